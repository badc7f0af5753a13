package salesforce

// Version is the plugin's semantic version, which Vault shows as the mount's
// running_plugin_version and which must match the version the plugin was
// registered with. scripts/build.sh (make build, make release, the demo and
// the end-to-end suite) sets it at link time with
// -ldflags "-X github.com/vault-plugin-secrets-salesforce/vault-plugin-secrets-salesforce.Version=v0.1.0".
// A source build without the flag still reports a valid semver.
var Version = "v0.0.0-dev"
