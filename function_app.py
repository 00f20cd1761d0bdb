"""The Azure Functions entry point: it only wires the blueprints (see README, Architecture)."""

import azure.functions as func

from backup_triggers import bp as backup_bp
from data_backups import bp as data_backups_bp
from data_restores.blueprint import bp as data_restores_bp
from notifications.blueprint import bp as notifications_bp
from operations_api import bp as operations_bp
from restore_orchestrator import bp as restore_bp
from status_page import bp as status_page_bp

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(backup_bp)
app.register_functions(restore_bp)
app.register_functions(operations_bp)
app.register_functions(notifications_bp)
app.register_functions(status_page_bp)
app.register_functions(data_backups_bp)
app.register_functions(data_restores_bp)
