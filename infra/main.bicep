// ppbackup on Azure Functions (Flex Consumption, Python 3.11): `azd up` from the repository root.
//
// A user-assigned managed identity does everything: it reads and writes the app's queues and
// tables (the storage account has shared keys off), writes data backups into a separate storage
// account (versioned, version-level immutability, lifecycle to cooler tiers), reads secrets from
// Key Vault, and is the identity the Power Platform administrator registers once (the deploy
// prints how). The status page is behind App Service Authentication (Microsoft Entra ID).
targetScope = 'subscription'

@description('azd environment name; names the resource group and prefixes resource names.')
@minLength(1)
@maxLength(24)
param environmentName string

@description('Region for every resource (Flex Consumption regions only).')
param location string

@description('Entra application (client) id people sign in to the status page with (the preprovision hook creates one).')
param authClientId string

@description('NCRONTAB of the pre-update backup timer (UTC).')
param backupSchedule string = '0 0 1 * * *'

@description('Environments the timer backs up: ids and/or type:Production, type:Sandbox, all.')
param backupScope string = 'type:Production'

@description('Label of timer backups: {date}, {time}, {env}.')
param backupLabelTemplate string = 'Pre-update {date} {time}Z'

@description('Environment ids that may be restored in place while Production (comma list or *).')
param restoreAllowProduction string = ''

@description('Hours after which a running restore needs attention.')
param restoreTimeoutHours string = '48'

@description('Data backup points kept: daily=N,weekly=N,monthly=N,yearly=N (keep daily >= the immutability days).')
param dataBackupRetention string = 'daily=35,weekly=12,monthly=24,yearly=7'

@description('Environments the data backup timer covers (same syntax as backupScope); empty: no timer rounds.')
param dataBackupScope string = ''

@description('NCRONTAB of the data backup timer (UTC).')
param dataBackupSchedule string = '0 0 2 * * *'

@description('Tables a data backup copies: all (less the documented exclusions) or logical names.')
param dataBackupTables string = 'all'

@description('Tables left out even when dataBackupTables is all (logical names).')
param dataBackupExcludeTables string = ''

@description('Teams Workflows webhook URL; stored in Key Vault, never in app settings.')
@secure()
param teamsWebhookUrl string = ''

@description('Generic webhook URL; stored in Key Vault.')
@secure()
param notifyWebhookUrl string = ''

@description('HMAC key (16+ characters) of the generic webhook; stored in Key Vault.')
@secure()
param notifyWebhookSecret string = ''

var tags = { 'azd-env-name': environmentName }
var token = toLower(uniqueString(subscription().id, environmentName, location))
var prefix = toLower(take(replace(environmentName, '-', ''), 9))

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: 'rg-${environmentName}'
  location: location
  tags: tags
}

module identity 'modules/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: { name: 'id-${prefix}-${token}', location: location, tags: tags }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    name: '${prefix}-${token}'
    location: location
    tags: tags
    principalId: identity.outputs.principalId
  }
}

module storage 'modules/app-storage.bicep' = {
  name: 'app-storage'
  scope: rg
  params: {
    name: take('st${prefix}${token}', 24)
    location: location
    tags: tags
    principalId: identity.outputs.principalId
  }
}

module dataBackups 'modules/data-backup-storage.bicep' = {
  name: 'data-backup-storage'
  scope: rg
  params: {
    name: take('stdb${prefix}${token}', 24)
    location: location
    tags: tags
    principalId: identity.outputs.principalId
  }
}

module vault 'modules/key-vault.bicep' = {
  name: 'key-vault'
  scope: rg
  params: {
    name: take('kv-${prefix}-${token}', 24)
    location: location
    tags: tags
    principalId: identity.outputs.principalId
    secrets: {
      'teams-webhook-url': teamsWebhookUrl
      'notify-webhook-url': notifyWebhookUrl
      'notify-webhook-secret': notifyWebhookSecret
    }
  }
}

module app 'modules/function-app.bicep' = {
  name: 'function-app'
  scope: rg
  params: {
    name: 'func-${prefix}-${token}'
    location: location
    tags: tags
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    deploymentContainerUrl: storage.outputs.deploymentContainerUrl
    appInsightsConnectionString: monitoring.outputs.connectionString
    authClientId: authClientId
    dataBackupBlobEndpoint: dataBackups.outputs.blobEndpoint
    dataBackupContainer: dataBackups.outputs.container
    settings: {
      BACKUP_SCHEDULE: backupSchedule
      BACKUP_SCOPE: backupScope
      BACKUP_LABEL_TEMPLATE: backupLabelTemplate
      RESTORE_ALLOW_PRODUCTION: restoreAllowProduction
      RESTORE_TIMEOUT_HOURS: restoreTimeoutHours
      DATA_BACKUP_RETENTION: dataBackupRetention
      DATA_BACKUP_SCOPE: dataBackupScope
      DATA_BACKUP_SCHEDULE: dataBackupSchedule
      DATA_BACKUP_TABLES: dataBackupTables
      DATA_BACKUP_EXCLUDE_TABLES: dataBackupExcludeTables
    }
    // Only secrets that were given become Key Vault references; the app treats the rest as unset.
    secretSettings: {
      TEAMS_WEBHOOK_URL: empty(teamsWebhookUrl) ? '' : '${vault.outputs.uri}secrets/teams-webhook-url'
      NOTIFY_WEBHOOK_URL: empty(notifyWebhookUrl) ? '' : '${vault.outputs.uri}secrets/notify-webhook-url'
      NOTIFY_WEBHOOK_SECRET: empty(notifyWebhookSecret) ? '' : '${vault.outputs.uri}secrets/notify-webhook-secret'
    }
  }
}

output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = app.outputs.name
output STATUS_PAGE_URL string = 'https://${app.outputs.hostName}/api/ui'
output AUTH_REDIRECT_URI string = 'https://${app.outputs.hostName}/.auth/login/aad/callback'
output MANAGED_IDENTITY_CLIENT_ID string = identity.outputs.clientId
output MANAGED_IDENTITY_PRINCIPAL_ID string = identity.outputs.principalId
output STORAGE_ACCOUNT_NAME string = storage.outputs.name
output DATA_BACKUP_BLOB_ENDPOINT string = dataBackups.outputs.blobEndpoint
output KEY_VAULT_NAME string = vault.outputs.name
