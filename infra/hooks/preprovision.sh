#!/bin/sh
# Before `azd provision`: the Entra app registration people sign in to the status page with.
# Bicep cannot create app registrations, so this makes one (once per azd environment) with the
# Azure CLI and stores its client id in the azd environment (AUTH_CLIENT_ID). It has no secret:
# App Service Authentication signs people in with ID tokens only.
#
# Safe to run again: the id is recorded as soon as the app exists, and every run makes sure of
# its service principal and that only assigned people may sign in (Microsoft Graph often does
# not show a new app for some seconds, so a first run can stop there).
set -eu

delay=${PPBACKUP_GRAPH_RETRY_SECONDS:-10}
name="ppbackup-status-page-${AZURE_ENV_NAME}"

client_id=$(azd env get-value AUTH_CLIENT_ID 2>/dev/null || true)
if [ -n "$client_id" ] && az ad app show --id "$client_id" >/dev/null 2>&1; then
  echo "Status page sign-in: using app registration $client_id"
else
  client_id=$(az ad app create --display-name "$name" --sign-in-audience AzureADMyOrg \
    --enable-id-token-issuance true --query appId -o tsv)
  azd env set AUTH_CLIENT_ID "$client_id"
  echo "Status page sign-in: created app registration $name ($client_id)"
fi

# Its service principal (fails once it exists, or while Graph has not caught up: retried), and
# only people assigned to the app (Enterprise applications > Users and groups) may sign in.
tries=0
until az ad sp update --id "$client_id" --set appRoleAssignmentRequired=true >/dev/null 2>&1; do
  tries=$((tries + 1))
  if [ "$tries" -gt 12 ]; then
    echo "Status page sign-in: could not configure the service principal of $client_id" \
      "(Microsoft Graph may still be replicating it); run azd provision again" >&2
    exit 1
  fi
  az ad sp create --id "$client_id" >/dev/null 2>&1 || sleep "$delay"
done
