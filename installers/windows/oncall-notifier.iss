; Inno Setup script of the Windows installer: per user (no administrator rights),
; a Start menu entry, optional start at login. Build the bundle first
; (pyinstaller installers\windows\oncall-notifier.spec), then:
;   iscc /DAppVersion=0.2.0 /DDist=dist\oncall-notifier installers\windows\oncall-notifier.iss
; The version comes from notifier/__init__.py (the CI workflow passes it); the
; installer lands in dist\oncall-notifier-VERSION-setup.exe.
;
; Start at login is not written here: the app's own code does it
; (`oncall-notifier.exe start-at-login on`, notifier/autostart.py: the per-user Run
; key, pointing at oncall-notifierw.exe), so that the app's Settings show it and
; switch it off again; the uninstaller switches it off.

#ifndef AppVersion
  #error Pass the version: iscc /DAppVersion=X.Y.Z (see notifier/__init__.py)
#endif
#ifndef Dist
  #define Dist "..\..\dist\oncall-notifier"
#endif

[Setup]
AppId={{6B0E8C0B-2E54-4F7B-9C1E-0C6A1F0D6E21}
AppName=On-call Notifier
AppVersion={#AppVersion}
AppPublisher=oncall-notifier
DefaultDirName={localappdata}\Programs\oncall-notifier
DefaultGroupName=On-call Notifier
DisableProgramGroupPage=yes
PrivilegesRequired=lowest
OutputDir={#Dist}\..
OutputBaseFilename=oncall-notifier-{#AppVersion}-setup
Compression=lzma2
SolidCompression=yes
WizardStyle=modern
UninstallDisplayIcon={app}\oncall-notifierw.exe
CloseApplications=yes

[Tasks]
Name: "startatlogin"; Description: "Start On-call Notifier when I log in"; Flags: unchecked

[Files]
Source: "{#Dist}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{userprograms}\On-call Notifier"; Filename: "{app}\oncall-notifierw.exe"; Comment: "Wakes you for pages and escalates until you acknowledge"

[Run]
Filename: "{app}\oncall-notifier.exe"; Parameters: "start-at-login on"; Tasks: startatlogin; Flags: runhidden
Filename: "{app}\oncall-notifierw.exe"; Description: "Start On-call Notifier now"; Flags: nowait postinstall skipifsilent

[UninstallRun]
Filename: "{app}\oncall-notifier.exe"; Parameters: "start-at-login off"; Flags: runhidden; RunOnceId: "StartAtLoginOff"
