// The Flex Consumption function app, running as the user-assigned identity, with App Service
// Authentication (Microsoft Entra ID) in front of the status page.
param name string
param location string
param tags object
param identityId string
param identityClientId string
param storageAccountName string
param deploymentContainerUrl string
param appInsightsConnectionString string
@description('Entra application (client) id people sign in to the status page with.')
@minLength(36)
param authClientId string

@description('Blob endpoint of the data backup account (the app reaches it with its identity).')
param dataBackupBlobEndpoint string
@description('Blob container of the data backup store.')
param dataBackupContainer string

@description('Plain app settings (contract section 2).')
param settings object

@description('App setting -> Key Vault secret URI; empty ones are left out.')
param secretSettings object

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: 'plan-${name}'
  location: location
  tags: tags
  kind: 'functionapp'
  // checkov:skip=CKV_AZURE_225: the app keeps no state on its instances (it is all in ZRS storage) and Flex Consumption starts new instances on demand; zone redundancy would add always-ready instances to pay for
  sku: { tier: 'FlexConsumption', name: 'FC1' }
  properties: { reserved: true }
}

resource app 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': 'app' })
  kind: 'functionapp,linux'
  // checkov:skip=CKV_AZURE_222: release pipelines call the keyed API from their own agents over the internet; the status page is behind Entra ID sign-in
  // checkov:skip=CKV_AZURE_17: callers authenticate with function keys (pipelines) or Entra ID (people); client certificates are not used
  // checkov:skip=CKV_AZURE_212: Flex Consumption scales to zero and starts instances on demand; queues hold the work meanwhile (at least once), so no always-ready instance is needed
  // checkov:skip=CKV_AZURE_213: Flex Consumption has no App Service health check; the watchdog timer re-drives stuck operations and Application Insights alerts on failures
  identity: { type: 'UserAssigned', userAssignedIdentities: { '${identityId}': {} } }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    clientCertMode: 'Optional'
    keyVaultReferenceIdentity: identityId
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: deploymentContainerUrl
          authentication: { type: 'UserAssignedIdentity', userAssignedIdentityResourceId: identityId }
        }
      }
      // A restore is many short invocations, never one long one (README, Operations).
      scaleAndConcurrency: { maximumInstanceCount: 40, instanceMemoryMB: 2048 }
      runtime: { name: 'python', version: '3.11' }
    }
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      // The names here are exactly the settings the app reads (tests/infra checks it). Secrets
      // are Key Vault references, and present only when given (the app treats absent as unset).
      appSettings: concat([
        { name: 'AzureWebJobsStorage__accountName', value: storageAccountName }
        { name: 'AzureWebJobsStorage__credential', value: 'managedidentity' }
        { name: 'AzureWebJobsStorage__clientId', value: identityClientId }
        { name: 'APPLICATIONINSIGHTS_CONNECTION_STRING', value: appInsightsConnectionString }
        { name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING', value: 'ClientId=${identityClientId};Authorization=AAD' }
        // Read by the C library of the Python worker, not the app: two malloc arenas instead of
        // one per busy thread (up to 8 per core), whose fragments kept a data backup's memory
        // growing with the table (1.45-1.6x at 1,000,000 rows against 100,000; ~1.03x with it).
        { name: 'MALLOC_ARENA_MAX', value: '2' }
        { name: 'PP_AUTH', value: 'managed_identity' }
        { name: 'PP_CLIENT_ID', value: identityClientId }
        { name: 'PP_TENANT_ID', value: tenant().tenantId }
        { name: 'PP_API_URL', value: 'https://api.powerplatform.com' }
        { name: 'PP_BAP_URL', value: 'https://api.bap.microsoft.com' }
        { name: 'BACKUP_SCHEDULE', value: settings.BACKUP_SCHEDULE }
        { name: 'BACKUP_SCOPE', value: settings.BACKUP_SCOPE }
        { name: 'BACKUP_LABEL_TEMPLATE', value: settings.BACKUP_LABEL_TEMPLATE }
        { name: 'RESTORE_ALLOW_PRODUCTION', value: settings.RESTORE_ALLOW_PRODUCTION }
        { name: 'RESTORE_TIMEOUT_HOURS', value: settings.RESTORE_TIMEOUT_HOURS }
        { name: 'DATA_BACKUP_STORAGE__blobServiceUri', value: dataBackupBlobEndpoint }
        { name: 'DATA_BACKUP_CONTAINER', value: dataBackupContainer }
        { name: 'DATA_BACKUP_RETENTION', value: settings.DATA_BACKUP_RETENTION }
        { name: 'DATA_BACKUP_SCOPE', value: settings.DATA_BACKUP_SCOPE }
        { name: 'DATA_BACKUP_SCHEDULE', value: settings.DATA_BACKUP_SCHEDULE }
        { name: 'DATA_BACKUP_TABLES', value: settings.DATA_BACKUP_TABLES }
        { name: 'DATA_BACKUP_EXCLUDE_TABLES', value: settings.DATA_BACKUP_EXCLUDE_TABLES }
      ],
      empty(secretSettings.TEAMS_WEBHOOK_URL) ? [] : [
        { name: 'TEAMS_WEBHOOK_URL', value: '@Microsoft.KeyVault(SecretUri=${secretSettings.TEAMS_WEBHOOK_URL})' }
      ], empty(secretSettings.NOTIFY_WEBHOOK_URL) ? [] : [
        { name: 'NOTIFY_WEBHOOK_URL', value: '@Microsoft.KeyVault(SecretUri=${secretSettings.NOTIFY_WEBHOOK_URL})' }
      ], empty(secretSettings.NOTIFY_WEBHOOK_SECRET) ? [] : [
        { name: 'NOTIFY_WEBHOOK_SECRET', value: '@Microsoft.KeyVault(SecretUri=${secretSettings.NOTIFY_WEBHOOK_SECRET})' }
      ])
    }
  }
}

// checkov reads a sites/config resource as a whole web app: the checks skipped below are about
// the app, and pass on it (or are skipped there with a reason).
// Anonymous callers still reach the keyed API (pipelines send a function key); the status page
// refuses them itself and links to the sign-in (status_page/access.py). EasyAuth strips any
// X-MS-CLIENT-PRINCIPAL* header a client sends, so the one the app sees is EasyAuth's.
resource auth 'Microsoft.Web/sites/config@2024-04-01' = {
  // checkov:skip=CKV_AZURE_13: this resource IS the App Service Authentication setting
  // checkov:skip=CKV_AZURE_63: not a web app (HTTP logs go to Application Insights from the app)
  // checkov:skip=CKV_AZURE_65: not a web app (detailed errors are an App Service page setting)
  // checkov:skip=CKV_AZURE_66: not a web app (failed request tracing is an App Service setting)
  parent: app
  // checkov:skip=CKV_AZURE_80: not a web app, and no .NET Framework runs here (Python)
  // checkov:skip=CKV_AZURE_88: not a web app; Flex Consumption deploys from blob storage, not Azure Files
  // checkov:skip=CKV_AZURE_222: not a web app (see the site above)
  name: 'authsettingsV2'
  properties: {
    platform: { enabled: true }
    globalValidation: {
      requireAuthentication: false
      unauthenticatedClientAction: 'AllowAnonymous'
    }
    identityProviders: {
      azureActiveDirectory: {
        enabled: true
        registration: {
          clientId: authClientId
          openIdIssuer: '${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0'
        }
        validation: { allowedAudiences: [ 'api://${authClientId}', authClientId ] }
      }
    }
    login: { tokenStore: { enabled: false } }
    httpSettings: { requireHttps: true }
  }
}

output name string = app.name
output hostName string = app.properties.defaultHostName
