; Inno Setup 6 script: dist\enclave (the one-folder bundle from build.spec) -> a setup .exe.
;
;   pyinstaller --noconfirm --clean build.spec
;   iscc /DAppVersion=0.1.0 installers\windows\enclave.iss
;   (CUDA build: add /DVariant=cuda, which only changes the file name)
;
; Per-user install by default, no administrator rights: %LOCALAPPDATA%\Programs\Enclave, a Start
; menu entry, an optional desktop shortcut, and an uninstaller in "Installed apps". /ALLUSERS
; installs per machine instead (Program Files, every user's Start menu; administrator rights),
; /CURRENTUSER forces per user; the dialog that asks is skipped when either is given, so
;   Enclave-<version>-windows-x64-setup.exe /VERYSILENT /SUPPRESSMSGBOXES /NORESTART /ALLUSERS
; installs without a person (exit codes: installers/README.md). The uninstaller keeps the
; user's data (models, conversations, document index, settings in %LOCALAPPDATA%\Enclave) unless
; the user says to delete it, or passes /PURGE=yes to a silent uninstall.

#ifndef AppVersion
  #define AppVersion "0.1.0"
#endif
#ifndef Variant
  #define Variant "cpu"
#endif
#if Variant == "cpu"
  #define VariantSuffix ""
#else
  #define VariantSuffix "-" + Variant
#endif
#define AppName "Enclave"
#define AppExe "Enclave.exe"
#define Root "..\.."

[Setup]
; Never change AppId: it is how upgrades and the uninstaller find the installed app.
AppId={{6E1C4C8A-4B7E-4E8B-9C2D-5A3F0E7D2B41}
AppName={#AppName}
AppVersion={#AppVersion}
AppVerName={#AppName} {#AppVersion}
AppPublisher={#AppName}
VersionInfoVersion={#AppVersion}
VersionInfoProductName={#AppName}
DefaultDirName={autopf}\{#AppName}
DefaultGroupName={#AppName}
DisableProgramGroupPage=yes
DisableDirPage=auto
PrivilegesRequired=lowest
; commandline: /ALLUSERS and /CURRENTUSER for silent installs; dialog: people choose.
PrivilegesRequiredOverridesAllowed=commandline dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
MinVersion=10.0
OutputDir={#Root}\dist
OutputBaseFilename={#AppName}-{#AppVersion}-windows-x64{#VariantSuffix}-setup
SetupIconFile={#Root}\resources\icons\enclave.ico
UninstallDisplayIcon={app}\{#AppExe}
UninstallDisplayName={#AppName}
Compression=lzma2/max
SolidCompression=yes
WizardStyle=modern
CloseApplications=yes
RestartApplications=no
ChangesAssociations=no

[Languages]
Name: "english"; MessagesFile: "compiler:Default.isl"

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[InstallDelete]
; An upgrade replaces the program folder entirely (stale libraries from an older version must go);
; user data is elsewhere and untouched.
Type: filesandordirs; Name: "{app}\_internal"

[Files]
Source: "{#Root}\dist\enclave\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{autoprograms}\{#AppName}"; Filename: "{app}\{#AppExe}"; Comment: "Run language models privately on this computer"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\{#AppExe}"; Tasks: desktopicon

[Run]
Filename: "{app}\{#AppExe}"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent

[UninstallDelete]
; Files the app may create next to itself (none today); never the user's data folder.
Type: dirifempty; Name: "{app}"

[Code]
// platformdirs' user_data_dir("Enclave", "Enclave") on Windows: %LOCALAPPDATA%\Enclave\Enclave
// (config, cache and logs live under it too).
function UserDataDir(): String;
begin
  Result := ExpandConstant('{localappdata}\Enclave');
end;

procedure CurUninstallStepChanged(CurUninstallStep: TUninstallStep);
var
  Purge: Boolean;
begin
  if CurUninstallStep <> usPostUninstall then
    exit;
  if not DirExists(UserDataDir()) then
    exit;
  if UninstallSilent() then
    Purge := CompareText(ExpandConstant('{param:PURGE|no}'), 'yes') = 0
  else
    Purge := MsgBox('Also delete your Enclave data?' + #13#10 + #13#10 +
      'This removes downloaded models, conversations, indexed documents and settings in' + #13#10 +
      UserDataDir() + #13#10 + #13#10 +
      'Choose No to keep them for a later installation.',
      mbConfirmation, MB_YESNO or MB_DEFBUTTON2) = IDYES;
  if Purge then
    DelTree(UserDataDir(), True, True, True);
end;
