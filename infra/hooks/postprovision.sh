#!/bin/sh
# After `azd provision`: point the sign-in at the new app, and say what a Power Platform
# administrator must do once before the first backup can run.
set -eu

client_id=$(azd env get-value AUTH_CLIENT_ID)
redirect=$(azd env get-value AUTH_REDIRECT_URI)
az ad app update --id "$client_id" --web-redirect-uris "$redirect" --enable-id-token-issuance true

app_id=$(azd env get-value MANAGED_IDENTITY_CLIENT_ID)
page=$(azd env get-value STATUS_PAGE_URL)
cat <<MSG

================================================================================================
ppbackup is provisioned. A Power Platform administrator must now, once:

  1. Register the app's managed identity as a management application
     (without it every Power Platform admin call answers 403):
         pac admin application register --application-id $app_id
     or in PowerShell:  New-PowerAppManagementApp -ApplicationId $app_id

  2. In each environment to back up or restore, add it as an application user with a
     security role (System Administrator for restores; Power Platform admin center >
     Environments > <environment> > Settings > Users + permissions > Application users >
     New app user > app id $app_id):
         pac admin assign-user --environment <environment id> --user $app_id \\
             --role "System Administrator" --application-user

  3. Let people see the status page: Entra admin center > Enterprise applications >
     ppbackup-status-page-${AZURE_ENV_NAME} > Users and groups > Add (only assigned people can
     sign in). Then open: $page
================================================================================================
MSG
