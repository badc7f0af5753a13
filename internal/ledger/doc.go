// Package ledger records which Vault leases hold which Salesforce access
// token, and ends each token when its last lease ends.
//
// Salesforce returns the same access token to every grant for one app and
// user while that session lives, so several leases (of one role, of two
// roles, of a JWT bearer and a client credentials role for the same Run As
// user) can hold one token, and revoking it ends it for all of them. The
// ledger's promise is that a token lives exactly as long as the leases that
// hold it: revoked when the last one ends, never while one lives.
//
// # Whole operations
//
// Callers never pair a memory step with a storage step. Each exported
// method is one operation that takes the locks it needs, changes storage
// first and memory after, and on a failed write leaves both as they were:
//
//   - Reuse: a new lease of the grant key's recent answer (the hot path:
//     memory and one batched write, no Salesforce call).
//   - BeginGrant, RecordGrant: record what Salesforce answered, with the new
//     lease, under the session lock; a token revoked while the grant was in
//     flight is refused (ErrRevokedMeanwhile) so the caller asks again.
//   - Release: end a lease, all or nothing; the last holder revokes.
//   - Abandon, Handed: the outcome of a read that recorded a holder.
//   - Extend: a renewal.
//   - BreakGlass, Settle, Sweep: revocations whatever holds the token, of a
//     grant whose outcome was unknown, and the periodic clean-up.
//   - Sessions, Session: the operator's view.
//
// Grants and last-holder revocations of one Salesforce session (app, org,
// user: SessionKey) are serialised by that session's lock; the only way to
// act under it is to be handed a *session by withSession.
//
// # Storage
//
//	ledger/tokens/<token ID>           Record: the token and what revoking it needs (seal-wrapped by the backend)
//	ledger/holders/<token ID>/<batch>  the leases recorded together: expiry, role, confirmed
//	ledger/epochs/<epoch>              how far one backend instance's holders are confirmed (confirm.go)
//
// A token ID is the SHA-256 of the token, in hex.
package ledger
