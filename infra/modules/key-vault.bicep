// Secrets (webhook URLs carry their own signature; the webhook's HMAC key) live here, and the app
// reads them as Key Vault references with its identity. RBAC only; soft delete, and no purge
// protection, so that `azd down --purge` removes it.
param name string
param location string
param tags object
param principalId string

@secure()
@description('Secret name -> value; empty values are not stored.')
param secrets object

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  // checkov:skip=CKV_AZURE_109: no VNet in this template (Flex Consumption VNet integration and private endpoints add cost and a network to run); access is Entra ID + RBAC only, no keys
  // checkov:skip=CKV_AZURE_110: azd down --purge must be able to remove the vault; it holds only webhook URLs and an HMAC key, which can be set again from their sources
  // checkov:skip=CKV_AZURE_42: recoverable needs purge protection, see CKV_AZURE_110; soft delete (7 days) stays on
  // checkov:skip=CKV_AZURE_189: no VNet in this template (Flex Consumption VNet integration and private endpoints add cost and a network to run); access is Entra ID + RBAC only, no keys
  properties: {
    tenantId: subscription().tenantId
    sku: { family: 'A', name: 'standard' }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 7
    publicNetworkAccess: 'Enabled'
    networkAcls: { defaultAction: 'Allow', bypass: 'AzureServices' }
  }
}

resource stored 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = [for item in items(secrets): if (!empty(item.value)) {
  // checkov:skip=CKV_AZURE_41: Key Vault refuses to read an expired secret, so the app's Key Vault reference would stay unresolved and the app stop on its next start; webhook URLs and the HMAC key are rotated at their source, then set again with azd
  parent: vault
  name: item.key
  properties: {
    value: item.value
    contentType: 'text/plain'
  }
}]

var keyVaultSecretsUser = '4633458b-17de-408a-b874-0445c86b69e6'

resource reader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, principalId, keyVaultSecretsUser)
  scope: vault
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsUser)
  }
}

output name string = vault.name
output uri string = vault.properties.vaultUri
