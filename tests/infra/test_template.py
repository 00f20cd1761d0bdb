"""The deployment matches the code: the app settings the template sets are exactly the ones the
app reads, and the package `.funcignore` leaves is the app and nothing else."""

from __future__ import annotations

import ast
import fnmatch
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MODULE = ROOT / "infra" / "modules" / "function-app.bicep"
MAIN = ROOT / "infra" / "main.bicep"

# Read by the Functions host (identity-based storage connection, telemetry) or by the worker's C
# library (malloc arenas: README, Memory), not by the app. (AzureWebJobsStorage__clientId is read
# by both: the app's storage clients name the same user-assigned identity.)
HOST_SETTINGS = {
    "AzureWebJobsStorage__credential",
    "APPLICATIONINSIGHTS_CONNECTION_STRING",
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
    "MALLOC_ARENA_MAX",
}
# Read by the app, deliberately not set in Azure.
NOT_IN_AZURE = {
    "AzureWebJobsStorage": "a connection string holds a key; AzureWebJobsStorage__accountName "
                           "(the managed identity) is set instead",
    "PP_CLIENT_SECRET": "the managed identity signs in to Power Platform, no secret",
    **dict.fromkeys(
        (f"AzureWebJobsStorage__{service}ServiceUri" for service in ("queue", "table", "blob")),
        "AzureWebJobsStorage__accountName names the account, whose endpoints are the default "
        "ones (for a private endpoint's or another cloud's host names instead)"),
    "DATA_BACKUP_STORAGE": "a connection string holds a key; DATA_BACKUP_STORAGE__blobServiceUri "
                           "(the managed identity, on the separate data backup account) is set",
    "PP_CLIENT_CERTIFICATE_PATH": "the managed identity signs in, no certificate",
    "PP_CLIENT_CERTIFICATE_PASSWORD": "the managed identity signs in, no certificate",
    "WEBSITE_TIME_ZONE": "Linux plans (Flex Consumption) run timers in UTC and do not support "
                         "it; unset, the app reads schedules in UTC as well",
    "REQUESTS_CA_BUNDLE": "the HTTP stack's own variable for a private CA (a proxy that inspects "
                          "TLS); Azure's trust store needs none",
    "CURL_CA_BUNDLE": "the same, under curl's name",
}


def _imported_packages(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):  # lazy imports in functions too
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
    return {name for name in names if (ROOT / name).is_dir()}


def app_packages() -> set[str]:
    """The repository's packages function_app.py needs, following imports (what Azure runs)."""
    found: set[str] = set()
    todo = _imported_packages(ROOT / "function_app.py")
    while todo:
        package = todo.pop()
        found.add(package)
        for path in (ROOT / package).rglob("*.py"):
            todo |= _imported_packages(path) - found
    return found


def settings_the_app_reads() -> set[str]:
    from shared.app_settings import AppSettings

    # Every app setting is a field of the settings model, by its name (the alias).
    names = {field.alias for field in AppSettings.model_fields.values() if field.alias}
    for package in app_packages():
        for path in (ROOT / package).rglob("*.py"):
            names |= set(re.findall(r'os\.environ\.get\("([A-Za-z0-9_]+)"', path.read_text()))
    return names


def settings_the_template_sets() -> set[str]:
    text = MODULE.read_text()
    block = text[text.index("appSettings:"):text.index("resource auth")]
    return set(re.findall(r"\{ name: '([A-Za-z0-9_]+)', value:", block))


def test_the_template_sets_exactly_the_settings_the_app_reads() -> None:
    reads = settings_the_app_reads()
    assert "BACKUP_SCOPE" in reads  # the scan sees the settings module
    sets = settings_the_template_sets()
    assert sets >= HOST_SETTINGS
    assert sets - HOST_SETTINGS == reads - set(NOT_IN_AZURE)
    assert {"AzureWebJobsStorage", "PP_CLIENT_SECRET"} <= reads  # the exceptions are live


def test_every_plain_setting_the_module_uses_is_passed_by_main() -> None:
    used = set(re.findall(r"settings\.([A-Z_]+)", MODULE.read_text()))
    main = MAIN.read_text()
    block = main[main.index("    settings: {"):main.index("    secretSettings: {")]
    passed = set(re.findall(r"^\s+([A-Z_]+):", block, flags=re.MULTILINE))
    assert used == passed
    secret_used = set(re.findall(r"secretSettings\.([A-Z_]+)", MODULE.read_text()))
    secret_block = main[main.index("    secretSettings: {"):]
    secret_passed = set(re.findall(r"^\s+([A-Z_]+):", secret_block, flags=re.MULTILINE))
    assert secret_used == secret_passed == {"TEAMS_WEBHOOK_URL", "NOTIFY_WEBHOOK_URL",
                                            "NOTIFY_WEBHOOK_SECRET"}


def ignored(name: str, is_dir: bool, patterns: list[str]) -> bool:
    for pattern in patterns:
        bare = pattern.rstrip("/")
        if pattern.endswith("/") and not is_dir:
            continue
        if fnmatch.fnmatch(name, bare):
            return True
    return False


def test_funcignore_ships_the_app_and_nothing_else() -> None:
    patterns = [line.strip() for line in (ROOT / ".funcignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    shipped = {entry.name for entry in ROOT.iterdir()
               if not ignored(entry.name, entry.is_dir(), patterns)}
    # Local state a developer may have lying around (git ignores it) is not the point here.
    shipped = {name for name in shipped if not name.startswith((".", "__"))}
    runtime = app_packages() | {"function_app.py", "host.json", "requirements.txt"}
    assert runtime <= shipped
    assert shipped - runtime == set(), "add these to .funcignore or to the app"
    for must_go in ("tests", "bench", "ppbackup", "docs", "node_modules", ".venv", "infra"):
        assert ignored(must_go, True, patterns), must_go


DATA_BACKUP = ROOT / "infra" / "modules" / "data-backup-storage.bicep"


def _block(text: str, key: str) -> str:
    """The `{ ... }` after `key:` in Bicep text (braces balanced)."""
    start = text.index("{", text.index(f"{key}:"))
    depth = 0
    for at in range(start, len(text)):
        depth += {"{": 1, "}": -1}.get(text[at], 0)
        if depth == 0:
            return text[start:at + 1]
    raise AssertionError(f"{key} block is not closed")


def test_retention_sweep_frees_storage_on_the_versioned_data_backup_account() -> None:
    # Blob versioning keeps a deleted blob as a previous version, and the app never reads
    # versions: without a lifecycle rule that deletes them, every point the retention sweep
    # deletes stays billed forever. The rule may not act before the immutability period (the
    # account refuses it anyway), and soft delete still keeps what it deletes 30 more days.
    text = DATA_BACKUP.read_text()
    assert "isVersioningEnabled: true" in text
    version = _block(_block(text, "actions"), "version")
    delete = _block(version, "delete")
    assert re.search(r"daysAfterCreationGreaterThan: immutabilityDays\b", delete), delete
    assert "prefixMatch: [ '${container}/' ]" in text


def test_every_app_setting_main_takes_can_be_set_with_azd_env_set() -> None:
    # A setting main.bicep takes but main.parameters.json does not map from the azd environment
    # is silently ignored by `azd env set`, and one changed in the portal goes back to the
    # template's default on the next `azd provision`.
    import json

    main = MAIN.read_text()
    block = main[main.index("    settings: {"):main.index("    secretSettings: {")]
    taken = dict(re.findall(r"^\s+([A-Z_]+): (\w+)$", block, flags=re.MULTILINE))
    assert "BACKUP_SCHEDULE" in taken
    mapped = json.loads((ROOT / "infra" / "main.parameters.json").read_text())["parameters"]
    for setting, param in taken.items():
        assert param in mapped, f"{param} ({setting}) is not in main.parameters.json"
        # Unset in the azd environment: blank, which the app reads as its default.
        assert re.fullmatch(rf"\$\{{{setting}=[^{{}}]*\}}", mapped[param]["value"]), param
    for secret in ("TEAMS_WEBHOOK_URL", "NOTIFY_WEBHOOK_URL", "NOTIFY_WEBHOOK_SECRET"):
        assert f"${{{secret}=}}" in {item["value"] for item in mapped.values()}


def test_stored_secrets_do_not_expire_under_the_running_app() -> None:
    # Key Vault refuses to read an expired secret (403 SecretExpired), so a Key Vault reference
    # to one stays unresolved: the app setting is then the literal '@Microsoft.KeyVault(...)',
    # the app refuses it as a webhook URL and no function starts. An expiry set at deploy time
    # would do that to an app nobody has provisioned again since, however valid the webhook.
    text = (ROOT / "infra" / "modules" / "key-vault.bicep").read_text()
    stored = text[text.index("resource stored"):text.index("var keyVaultSecretsUser")]
    assert "exp:" not in stored
    assert "utcNow" not in text
    assert re.search(r"checkov:skip=CKV_AZURE_41: .{20,}", stored)


def test_the_deploy_section_says_where_the_hooks_run() -> None:
    # The hooks are sh scripts with posix entries only: from PowerShell or cmd on Windows,
    # `azd up` stops at preprovision. An operator must be told before running it.
    hooks = (ROOT / "azure.yaml").read_text()
    readme = (ROOT / "README.md").read_text()
    deploy = readme[readme.index("## Deploy"):readme.index("### What it costs")]
    if "windows:" not in hooks:
        assert re.search(r"POSIX shell \(Linux, macOS, WSL", deploy), "say where azd up runs"
