"""Stakeholder channels: where a status update goes beyond the backend's ticket
(issue 19). Email over SMTP, Slack, Microsoft Teams and Mattermost webhooks, a
Matrix room.

* :mod:`.settings`: the ``[[stakeholders]]`` tables, declared like every setting;
* :mod:`.message`: what an update says, and how it is escaped for each target;
* :mod:`.senders`: one blocking send per channel kind, raising
  :class:`.senders.ChannelError` (retry or not, and what to fix).

The queue that makes each delivery survive a crash and never go out twice lives
in :mod:`notifier.core.stakeholders` (Qt-free, no HTTP of its own).
"""
