#!/usr/bin/env bash
# The whole story in one run: Vault issues a Salesforce access token as a
# lease, the token works against the org's REST API, and revoking the lease
# kills the token at Salesforce. Salesforce is played by the emulator
# (cmd/sfemu) over HTTPS; everything listens on loopback and is stopped when
# the script ends, whether it succeeds, fails or is interrupted.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DEADLINE="${DEMO_DEADLINE:-10m}"
STATE="$(mktemp -d "${TMPDIR:-/tmp}/sf-demo.XXXXXX")"
trap_cleanup demo

command -v curl >/dev/null || die "the demo needs curl"

build_all
start_emulator
start_vault_dev
register_plugin
configure_connection

say "An application asks Vault for a Salesforce token"
run vault read salesforce/creds/app | tee "$STATE/creds.out"
LEASE_ID="$(awk '$1 == "lease_id" {print $2}' "$STATE/creds.out")"
ACCESS_TOKEN="$(awk '$1 == "access_token" {print $2}' "$STATE/creds.out")"
INSTANCE_URL="$(awk '$1 == "instance_url" {print $2}' "$STATE/creds.out")"
if [ -z "$LEASE_ID" ] || [ -z "$ACCESS_TOKEN" ] || [ -z "$INSTANCE_URL" ]; then
  die "could not find lease_id, access_token and instance_url in the output above"
fi

say "The token works against the org's REST API"
show "curl --cacert $STATE/ca.pem -H \"Authorization: Bearer \$ACCESS_TOKEN\" $INSTANCE_URL/services/data/v65.0/limits"
code="$(sf_limits "$INSTANCE_URL" "$ACCESS_TOKEN")"
echo "HTTP $code $(head -c 120 "$STATE/limits.out")..."
[ "$code" = 200 ] || die "expected HTTP 200 from the REST API with a fresh token, got $code"

say "Ending the lease revokes the token at Salesforce"
run vault lease revoke "$LEASE_ID"

show "curl --cacert $STATE/ca.pem -H \"Authorization: Bearer \$ACCESS_TOKEN\" $INSTANCE_URL/services/data/v65.0/limits"
end=$((SECONDS + 15))
while code="$(sf_limits "$INSTANCE_URL" "$ACCESS_TOKEN")" && [ "$code" != 401 ] && [ "$SECONDS" -lt "$end" ]; do
  sleep 0.5
done
echo "HTTP $code $(cat "$STATE/limits.out")"
[ "$code" = 401 ] || die "expected HTTP 401 after the lease was revoked, got $code"

say "Demo complete: the token lived exactly as long as its lease. Stopping Vault and the emulator."
