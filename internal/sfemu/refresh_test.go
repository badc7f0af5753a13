package sfemu

import (
	"strconv"
	"testing"
	"time"
)

const limits = "/services/data/v65.0/limits"

// TestRefreshTokenFlow: a refresh answers the live session's token (one
// session per app and user, as for every grant), no refresh_token without
// rotation, and issued_at with the signature.
func TestRefreshTokenFlow(t *testing.T) {
	h := newHarness(t, withWebApps(nil))
	access, rt := h.authorize(appWeb, "alice@example.com")
	a := h.refreshGrant(appWeb, rt)
	if a.status != 200 {
		t.Fatalf("refresh: %d %s", a.status, a.body)
	}
	m := a.json(t)
	if m["access_token"] != access || m["refresh_token"] != nil || m["scope"] != "api refresh_token" || m["token_type"] != "Bearer" {
		t.Fatalf("refresh answer: %s", a.body)
	}
	if _, err := strconv.ParseInt(m["issued_at"].(string), 10, 64); err != nil || m["signature"] != Signature(webSecret, m["id"].(string), m["issued_at"].(string)) {
		t.Errorf("issued_at or signature: %s", a.body)
	}
	if _, ok := m["expires_in"]; ok {
		t.Error("expires_in in a refresh answer")
	}
	wantOAuthError(t, h.refreshGrant(appWeb, "5Aep861notarefreshtokenatall"), "invalid_grant", "expired access/refresh token")
	wantOAuthError(t, h.refreshGrant(appWebRot, rt), "invalid_grant", "expired access/refresh token")
	st := h.emu.Stats()
	if st.Grants[statRefresh] != 1 || st.Authorizations[0].Refreshes != 1 || st.Authorizations[0].LastRefresh == nil {
		t.Errorf("stats: %+v %+v", st.Grants, st.Authorizations)
	}
}

// TestRevokeAccessTokenKeepsRefreshToken: the refresh token outlives a
// revoked access token and gets a new one.
func TestRevokeAccessTokenKeepsRefreshToken(t *testing.T) {
	h := newHarness(t, withWebApps(nil))
	access, rt := h.authorize(appWeb, "alice@example.com")
	if a := h.revoke(access); a.status != 200 {
		t.Fatalf("revoke access token: %d %s", a.status, a.body)
	}
	if a := h.get(limits, access); a.status != 401 {
		t.Fatalf("revoked access token: %d", a.status)
	}
	if !h.emu.RefreshTokenActive(rt) {
		t.Fatal("revoking the access token ended the refresh token")
	}
	a := h.refreshGrant(appWeb, rt)
	if a.status != 200 {
		t.Fatalf("refresh after revoking the access token: %d %s", a.status, a.body)
	}
	fresh := a.json(t)["access_token"].(string)
	if fresh == access {
		t.Fatal("refresh answered the revoked token")
	}
	if a := h.get(limits, fresh); a.status != 200 {
		t.Fatalf("new access token: %d %s", a.status, a.body)
	}
}

// TestRevokeRefreshTokenKillsAccessTokens: revoking a refresh token ends
// it and every access token it handed out; the REST API then answers 401.
func TestRevokeRefreshTokenKillsAccessTokens(t *testing.T) {
	h := newHarness(t, withWebApps(nil))
	first, rt := h.authorize(appWeb, "alice@example.com")
	h.revoke(first) // so that the refresh hands out a second token
	second := h.refreshGrant(appWeb, rt).json(t)["access_token"].(string)
	if a := h.revoke(rt); a.status != 200 || len(a.body) != 0 {
		t.Fatalf("revoke refresh token: %d %q", a.status, a.body)
	}
	a := h.get(limits, second)
	if a.status != 401 || string(a.body) != `[{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}]` {
		t.Fatalf("access token of a revoked refresh token: %d %s", a.status, a.body)
	}
	if h.emu.RefreshTokenActive(rt) || h.emu.Approvals(appWeb, "alice@example.com") != 0 {
		t.Fatal("revoked refresh token still active")
	}
	wantOAuthError(t, h.refreshGrant(appWeb, rt), "invalid_grant", "expired access/refresh token")
	if a := h.revoke(rt); a.status != 400 || string(a.body) != "error=invalid_token" {
		t.Fatalf("second revoke: %d %q", a.status, a.body)
	}
	if a := h.revoke("5Aep861unknownunknownunknown"); a.status != 400 || string(a.body) != "error=invalid_token" {
		t.Fatalf("unknown refresh token: %d %q", a.status, a.body)
	}
	if st := h.emu.Stats(); st.Authorizations[0].EndReason != endRevoked || st.Authorizations[0].Active {
		t.Errorf("stats: %+v", st.Authorizations)
	}
}

// TestRotation: each refresh answers a new refresh token and ends the one
// used; the ended one coming back revokes the whole family and its access
// tokens.
func TestRotation(t *testing.T) {
	h := newHarness(t, withWebApps(nil))
	access, rt1 := h.authorize(appWebRot, "alice@example.com")
	a := h.refreshGrant(appWebRot, rt1)
	rt2, _ := a.json(t)["refresh_token"].(string)
	if a.status != 200 || rt2 == "" || rt2 == rt1 {
		t.Fatalf("refresh under rotation: %d %s", a.status, a.body)
	}
	if h.emu.RefreshTokenActive(rt1) || !h.emu.RefreshTokenActive(rt2) {
		t.Fatal("rotation did not replace the refresh token")
	}
	rt3 := h.refreshGrant(appWebRot, rt2).json(t)["refresh_token"].(string)
	if a := h.get(limits, access); a.status != 200 {
		t.Fatalf("access token before reuse: %d", a.status)
	}

	wantOAuthError(t, h.refreshGrant(appWebRot, rt1), "invalid_grant", "expired access/refresh token")
	if h.emu.RefreshTokenActive(rt3) {
		t.Fatal("reuse of a rotated-out token left the current one alive")
	}
	wantOAuthError(t, h.refreshGrant(appWebRot, rt3), "invalid_grant", "expired access/refresh token")
	if a := h.get(limits, access); a.status != 401 {
		t.Fatalf("access token after reuse: %d", a.status)
	}
	st := h.emu.Stats()
	if len(st.Authorizations) != 1 || st.Authorizations[0].EndReason != endRotatedReused || st.Authorizations[0].RefreshTokensIssued != 3 {
		t.Errorf("stats: %+v", st.Authorizations)
	}
}

// TestRotationRevokeEndsFamily: revoking the current refresh token ends
// the earlier ones too (they were already out) and the access tokens.
func TestRotationRevokeEndsFamily(t *testing.T) {
	h := newHarness(t, withWebApps(nil))
	access, rt1 := h.authorize(appWebRot, "alice@example.com")
	rt2 := h.refreshGrant(appWebRot, rt1).json(t)["refresh_token"].(string)
	if a := h.revoke(rt1); a.status != 400 {
		t.Errorf("revoking a rotated-out token: %d %s", a.status, a.body)
	}
	if a := h.revoke(rt2); a.status != 200 {
		t.Fatalf("revoke: %d %s", a.status, a.body)
	}
	if h.emu.RefreshTokenActive(rt2) || h.emu.TokenActive(access) {
		t.Fatal("family survived its revocation")
	}
}

// TestRefreshTokenPolicies: expire after N from issue, idle N as a sliding
// window, and valid until revoked.
func TestRefreshTokenPolicies(t *testing.T) {
	t.Run("expire after", func(t *testing.T) {
		h := newHarness(t, withWebApps(func(a *App) { a.RefreshTokenPolicy = RefreshTokenPolicy{ExpireAfterSeconds: 3600} }))
		clock := h.useFakeClock()
		access, rt := h.authorize(appWeb, "alice@example.com")
		clock.Advance(59 * time.Minute)
		if a := h.refreshGrant(appWeb, rt); a.status != 200 {
			t.Fatalf("refresh at 59 min: %d %s", a.status, a.body)
		}
		clock.Advance(time.Minute)
		if h.emu.RefreshTokenActive(rt) || h.emu.Approvals(appWeb, "alice@example.com") != 0 {
			t.Error("refresh token alive past its policy")
		}
		wantOAuthError(t, h.refreshGrant(appWeb, rt), "invalid_grant", "expired access/refresh token")
		// Expiry is no revocation: the access token lives on.
		if a := h.get(limits, access); a.status != 200 {
			t.Errorf("access token after the refresh token expired: %d", a.status)
		}
	})
	t.Run("idle", func(t *testing.T) {
		h := newHarness(t, withWebApps(func(a *App) { a.RefreshTokenPolicy = RefreshTokenPolicy{IdleSeconds: 600} }))
		clock := h.useFakeClock()
		_, rt := h.authorize(appWeb, "alice@example.com")
		for i := 0; i < 3; i++ {
			clock.Advance(9 * time.Minute)
			if a := h.refreshGrant(appWeb, rt); a.status != 200 {
				t.Fatalf("refresh %d after 9 idle minutes: %d %s", i, a.status, a.body)
			}
		}
		clock.Advance(10 * time.Minute)
		wantOAuthError(t, h.refreshGrant(appWeb, rt), "invalid_grant", "expired access/refresh token")
	})
	t.Run("valid until revoked", func(t *testing.T) {
		h := newHarness(t, withWebApps(nil))
		clock := h.useFakeClock()
		access, rt := h.authorize(appWeb, "alice@example.com")
		clock.Advance(365 * 24 * time.Hour)
		a := h.refreshGrant(appWeb, rt)
		if a.status != 200 {
			t.Fatalf("refresh after a year: %d %s", a.status, a.body)
		}
		// The old session timed out; the refresh started a new one.
		if tok := a.json(t)["access_token"]; tok == access || h.get(limits, tok.(string)).status != 200 {
			t.Errorf("refresh after the session timed out answered %v", tok)
		}
	})
	t.Run("expire by the admin API", func(t *testing.T) {
		h := newHarness(t, withWebApps(nil))
		_, rt := h.authorize(appWeb, "alice@example.com")
		if a := h.admin("POST", "expire-refresh-tokens", ""); a.status != 204 {
			t.Fatalf("expire-refresh-tokens: %d %s", a.status, a.body)
		}
		wantOAuthError(t, h.refreshGrant(appWeb, rt), "invalid_grant", "expired access/refresh token")
	})
}

// TestSixthApprovalRevokesOldest: five approvals per user and app; the
// sixth revokes the oldest, and only it.
func TestSixthApprovalRevokesOldest(t *testing.T) {
	h := newHarness(t, withWebApps(nil))
	var rts []string
	for i := 0; i < 5; i++ {
		_, rt := h.authorize(appWeb, "alice@example.com")
		rts = append(rts, rt)
	}
	_, bobs := h.authorize(appWeb, "bob@example.com")
	if n := h.emu.Approvals(appWeb, "alice@example.com"); n != 5 {
		t.Fatalf("approvals after five = %d", n)
	}
	access, sixth := h.authorize(appWeb, "alice@example.com")
	if h.emu.RefreshTokenActive(rts[0]) {
		t.Fatal("the oldest approval survived the sixth")
	}
	for i, rt := range append(rts[1:], sixth, bobs) {
		if !h.emu.RefreshTokenActive(rt) {
			t.Errorf("refresh token %d died with the oldest approval", i+1)
		}
	}
	if n := h.emu.Approvals(appWeb, "alice@example.com"); n != 5 {
		t.Errorf("approvals after six = %d", n)
	}
	if a := h.get(limits, access); a.status != 200 {
		t.Errorf("the sixth approval's access token: %d", a.status)
	}
	wantOAuthError(t, h.refreshGrant(appWeb, rts[0]), "invalid_grant", "expired access/refresh token")
	st := h.emu.Stats()
	if st.Authorizations[0].EndReason != endApprovalLimit {
		t.Errorf("end reason %q", st.Authorizations[0].EndReason)
	}

	// The limit is a setting.
	h2 := newHarness(t, withWebApps(func(a *App) { a.MaxApprovalsPerUser = 2 }))
	_, a1 := h2.authorize(appWeb, "alice@example.com")
	h2.authorize(appWeb, "alice@example.com")
	h2.authorize(appWeb, "alice@example.com")
	if h2.emu.RefreshTokenActive(a1) || h2.emu.Approvals(appWeb, "alice@example.com") != 2 {
		t.Error("max_approvals_per_user 2 not applied")
	}
}

// TestConsentApprovesForJWT: a user who consented with the refresh_token
// scope has approved the app, so JWT grants work for them until the
// approval is revoked.
func TestConsentApprovesForJWT(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.Apps[0].CallbackURLs = []string{callback}
		c.Apps[0].ClientSecret = webSecret
	})
	bob := map[string]any{"sub": "bob@example.com"}
	wantOAuthError(t, h.jwtGrant(bob), "invalid_grant", "user hasn't approved this consumer")
	access, rt := h.authorize(appMain, "bob@example.com")
	a := h.jwtGrant(bob)
	if a.status != 200 {
		t.Fatalf("JWT after consent: %d %s", a.status, a.body)
	}
	// One session per app and user, whichever flow asked.
	if tok := a.json(t)["access_token"]; tok != access {
		t.Errorf("JWT grant got %v, the session is %q", tok, access)
	}
	h.revoke(rt)
	wantOAuthError(t, h.jwtGrant(bob), "invalid_grant", "user hasn't approved this consumer")
}
