// Where data backups go (contract section 9): a separate account, the air gap from the app's own
// storage. Every blob version is immutable for the retention period (version-level WORM, so not
// even the app can rewrite or delete a point early), and blobs move to cooler tiers as they age.
param name string
param location string
param tags object
param principalId string

@description('Days a written blob version cannot be changed or deleted.')
param immutabilityDays int = 35

var container = 'ppbackup-data'

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  // checkov:skip=CKV_AZURE_35: no VNet in this template (Flex Consumption VNet integration and private endpoints add cost and a network to run); access is Entra ID + RBAC only, no keys
  sku: { name: 'Standard_GRS' }
  properties: {
    accessTier: 'Hot'
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    immutableStorageWithVersioning: {
      enabled: true
      immutabilityPolicy: {
        immutabilityPeriodSinceCreationInDays: immutabilityDays
        state: 'Unlocked' // lock it once the retention is agreed; a locked policy cannot shrink
        // The record index is append blobs (docs/data-store.md): new blocks may be added to them,
        // nothing written can be changed or deleted.
        allowProtectedAppendWrites: true
      }
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
  properties: {
    isVersioningEnabled: true
    deleteRetentionPolicy: { enabled: true, days: 30 }
    containerDeleteRetentionPolicy: { enabled: true, days: 30 }
  }
}

resource backups 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: container
  properties: { publicAccess: 'None' }
}

resource lifecycle 'Microsoft.Storage/storageAccounts/managementPolicies@2023-05-01' = {
  parent: storage
  name: 'default'
  properties: {
    policy: {
      rules: [
        {
          name: 'cooler-with-age'
          enabled: true
          type: 'Lifecycle'
          definition: {
            filters: { blobTypes: [ 'blockBlob' ], prefixMatch: [ '${container}/' ] }
            actions: {
              baseBlob: {
                tierToCool: { daysAfterCreationGreaterThan: 30 }
                tierToCold: { daysAfterCreationGreaterThan: 90 }
              }
              // Versioning keeps what is deleted or overwritten as a previous version, which
              // the app never reads: without this, every point the retention sweep deletes
              // would stay (and be billed) forever. Not before the immutability period (the
              // account refuses it then anyway); soft delete keeps it 30 more days.
              version: {
                tierToCool: { daysAfterCreationGreaterThan: 30 }
                tierToCold: { daysAfterCreationGreaterThan: 90 }
                delete: { daysAfterCreationGreaterThan: immutabilityDays }
              }
            }
          }
        }
      ]
    }
  }
}

var storageBlobDataContributor = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'

resource writer 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, principalId, storageBlobDataContributor)
  scope: storage
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataContributor)
  }
}

output name string = storage.name
output blobEndpoint string = storage.properties.primaryEndpoints.blob
output container string = container
