// ppbackup on Azure Functions (Flex Consumption, Python 3.11), with no secret anywhere:
// the app reaches its storage account and the Power Platform APIs with its managed identity.
//
//   az group create -n rg-ppbackup -l westeurope
//   az deployment group create -g rg-ppbackup -f infra/main.bicep -p namePrefix=ppbackup
//   func azure functionapp publish <functionAppName>        (from the repository root)
//
// Then register the app's managed identity with Power Platform once (README, "Register the
// identity with Power Platform").

@description('Short prefix for resource names (lowercase letters and digits).')
@minLength(3)
@maxLength(11)
param namePrefix string

param location string = resourceGroup().location

@description('NCRONTAB of the pre-update backup timer (UTC).')
param backupSchedule string = '0 0 1 * * *'

@description('Environments the timer backs up: ids and/or type:Production, type:Sandbox, all.')
param backupScope string = 'type:Production'

@description('Environment ids that may be restored in place while Production (comma list or *).')
param restoreAllowProduction string = ''

@description('Teams Workflows webhook URL (a secret: pass it from Key Vault or a pipeline secret).')
@secure()
param teamsWebhookUrl string = ''

var suffix = uniqueString(resourceGroup().id)
var storageName = toLower('${namePrefix}${suffix}')
var deploymentContainer = 'app-package'

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: take(storageName, 24)
  location: location
  kind: 'StorageV2'
  sku: { name: 'Standard_ZRS' }
  properties: {
    allowSharedKeyAccess: false // identity only: no account key to leak
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    allowBlobPublicAccess: false
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource packages 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainer
}

resource logs 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: '${namePrefix}-logs-${suffix}'
  location: location
  properties: { retentionInDays: 90, sku: { name: 'PerGB2018' } }
}

resource insights 'Microsoft.Insights/components@2020-02-02' = {
  name: '${namePrefix}-ai-${suffix}'
  location: location
  kind: 'web'
  properties: { Application_Type: 'web', WorkspaceResourceId: logs.id, DisableLocalAuth: true }
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: '${namePrefix}-plan-${suffix}'
  location: location
  kind: 'functionapp'
  sku: { tier: 'FlexConsumption', name: 'FC1' }
  properties: { reserved: true }
}

resource app 'Microsoft.Web/sites@2024-04-01' = {
  name: '${namePrefix}-func-${suffix}'
  location: location
  kind: 'functionapp,linux'
  identity: { type: 'SystemAssigned' }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainer}'
          authentication: { type: 'SystemAssignedIdentity' }
        }
      }
      // A restore is many short invocations, never one long one; 10 minutes bounds a stuck call.
      scaleAndConcurrency: { maximumInstanceCount: 10, instanceMemoryMB: 2048 }
      runtime: { name: 'python', version: '3.11' }
    }
    siteConfig: {
      minTlsVersion: '1.2'
      appSettings: [
        { name: 'AzureWebJobsStorage__accountName', value: storage.name }
        { name: 'AzureWebJobsStorage__credential', value: 'managedidentity' }
        { name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING', value: 'Authorization=AAD' }
        { name: 'APPLICATIONINSIGHTS_CONNECTION_STRING', value: insights.properties.ConnectionString }
        { name: 'PP_AUTH', value: 'managed_identity' }
        { name: 'BACKUP_SCHEDULE', value: backupSchedule }
        { name: 'BACKUP_SCOPE', value: backupScope }
        { name: 'RESTORE_ALLOW_PRODUCTION', value: restoreAllowProduction }
        { name: 'RESTORE_TIMEOUT_HOURS', value: '48' }
        { name: 'TEAMS_WEBHOOK_URL', value: teamsWebhookUrl }
      ]
    }
  }
}

// Built-in role ids: Storage Blob Data Owner, Storage Queue Data Contributor,
// Storage Table Data Contributor, Monitoring Metrics Publisher.
var roles = [
  'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  '3913510d-42f4-4e42-8a64-420c390055eb'
]

resource storageRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for role in take(roles, 3): {
  name: guid(storage.id, app.id, role)
  scope: storage
  properties: {
    principalId: app.identity.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role)
  }
}]

resource insightsRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(insights.id, app.id, roles[3])
  scope: insights
  properties: {
    principalId: app.identity.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles[3])
  }
}

output functionAppName string = app.name
output managedIdentityPrincipalId string = app.identity.principalId
output storageAccountName string = storage.name
