#!/bin/sh
# Before `azd provision`: the Entra app registration people sign in to the status page with.
# Bicep cannot create app registrations, so this makes one (once per azd environment) with the
# Azure CLI and stores its client id in the azd environment (AUTH_CLIENT_ID). It has no secret:
# App Service Authentication signs people in with ID tokens only.
set -eu

existing=$(azd env get-value AUTH_CLIENT_ID 2>/dev/null || true)
if [ -n "$existing" ] && az ad app show --id "$existing" >/dev/null 2>&1; then
  echo "Status page sign-in: using app registration $existing"
  exit 0
fi

name="ppbackup-status-page-${AZURE_ENV_NAME}"
client_id=$(az ad app create --display-name "$name" --sign-in-audience AzureADMyOrg \
  --enable-id-token-issuance true --query appId -o tsv)
# Only people assigned to the app (Enterprise applications > Users and groups) may sign in.
az ad sp create --id "$client_id" >/dev/null 2>&1 || true
az ad sp update --id "$client_id" --set appRoleAssignmentRequired=true >/dev/null
azd env set AUTH_CLIENT_ID "$client_id"
echo "Status page sign-in: created app registration $name ($client_id)"
