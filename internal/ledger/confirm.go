package ledger

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
)

// A holder is written before its creds answer leaves, and Vault registers
// the lease only once the answer arrives. If the answer is lost (Vault's
// request deadline passed, or Vault died before registering), no lease will
// ever revoke the holder, and it would keep its token alive for the lease's
// whole TTL: the mount's maximum, 768 hours by default, when the role sets
// none. So a holder counts with its lease's expiry only once it is known to
// belong to a registered lease, and until then for at most ProvisionalTTL:
//
//   - a renewal confirms it (Vault renews only leases it registered);
//   - a backend instance confirms its own holders in bulk: once a read has
//     answered and RegistrationMargin has passed while this instance (so
//     Vault, which would have killed it) is alive, Vault has registered the
//     lease or failed and revoked it. Each instance writes holders under its
//     own epoch, and records in ledger/epochs/<epoch> how far that is true
//     for its batches, at every sweep and when it is cleaned up; a batch
//     written before that time is confirmed.
//
// After a restart or failover, the holders of the last moments before a
// crash stay provisional: their tokens are revoked ProvisionalTTL after
// they were written unless a renewal confirms them. A crash can thus cut a
// few leases short; it can no longer leave a token alive for weeks.

// answers follows this instance's holders from their write until Vault
// must have registered their lease: pending while the read has not
// answered, then returned for RegistrationMargin. Both stay small (the
// reads in flight, and those answered within the margin), so the hot path
// pays a map insert and delete and an append.
type answers struct {
	pending  map[string]time.Time // holder -> when it was recorded
	returned []answered           // in the order the reads answered, from head on
	head     int
}

type answered struct{ added, at time.Time }

func newAnswers() answers { return answers{pending: map[string]time.Time{}} }

func (a *answers) add(hid string, now time.Time) { a.pending[hid] = now }

// drop forgets a holder whose read will never answer (it failed, or its
// lease is already being revoked).
func (a *answers) drop(hid string) { delete(a.pending, hid) }

func (a *answers) handed(hid string, now time.Time, margin time.Duration) {
	if added, ok := a.pending[hid]; ok {
		delete(a.pending, hid)
		a.returned = append(a.returned, answered{added: added, at: now})
	}
	a.prune(now, margin)
}

// prune forgets the answers older than margin: Vault has registered (or
// revoked) their leases by now. The slice is compacted only once most of
// it is dead, so that a read pays O(1) for it on average.
func (a *answers) prune(now time.Time, margin time.Duration) {
	for a.head < len(a.returned) && now.Sub(a.returned[a.head].at) >= margin {
		a.head++
	}
	if a.head == len(a.returned) {
		a.returned, a.head = a.returned[:0], 0
	} else if a.head > 1024 && 2*a.head > len(a.returned) {
		n := copy(a.returned, a.returned[a.head:])
		a.returned, a.head = a.returned[:n], 0
	}
}

// live is the answers not yet pruned.
func (a *answers) live() []answered { return a.returned[a.head:] }

// marker is the time up to which every holder this instance recorded
// belongs to a lease Vault has registered (or revoked): just before the
// oldest holder still pending or answered within margin.
func (a *answers) marker(now time.Time, margin time.Duration) time.Time {
	a.prune(now, margin)
	var oldest time.Time
	for _, added := range a.pending {
		if oldest.IsZero() || added.Before(oldest) {
			oldest = added
		}
	}
	for _, r := range a.live() {
		if oldest.IsZero() || r.added.Before(oldest) {
			oldest = r.added
		}
	}
	if oldest.IsZero() {
		return now
	}
	return oldest.Add(-time.Nanosecond)
}

type epochEntry struct {
	ConfirmedThrough time.Time `json:"confirmed_through"`
}

// liveMarkerLocked is this instance's own confirmation marker, now.
func (l *Ledger) liveMarkerLocked(now time.Time) time.Time {
	return l.answers.marker(now, l.opts.RegistrationMargin)
}

// confirmedLocked reports whether a durable holder is known to belong to a
// registered lease; live is liveMarkerLocked's answer, computed once by
// the caller for all the holders it looks at.
func (l *Ledger) confirmedLocked(h *holder, live time.Time) bool {
	if h.confirmed {
		return true
	}
	through := l.epochs[h.batch.epoch]
	if h.batch.epoch == l.epoch {
		through = live
	}
	return !h.batch.writtenAt.After(through)
}

// expiryLocked is when the sweep may drop a holder: its lease's expiry once
// confirmed, at most ProvisionalTTL after it was written until then. A
// holder still being written never expires.
func (l *Ledger) expiryLocked(h *holder, live time.Time) (time.Time, bool) {
	if h.batch == nil {
		return time.Time{}, false
	}
	if l.confirmedLocked(h, live) {
		return h.expiresAt, true
	}
	provisional := h.batch.writtenAt.Add(l.opts.ProvisionalTTL)
	if provisional.Before(h.expiresAt) {
		return provisional, true
	}
	return h.expiresAt, true
}

// Confirm records how far this instance's holders are confirmed.
func (l *Ledger) Confirm(ctx context.Context, s logical.Storage) error {
	l.mu.Lock()
	through := l.liveMarkerLocked(l.now())
	l.mu.Unlock()
	return l.writeEpoch(ctx, s, through)
}

// Close is called when the backend is torn down (seal, step-down, plugin
// reload): Vault has answered every request by then, so every read that
// answered has its lease registered.
func (l *Ledger) Close(ctx context.Context, s logical.Storage) error {
	l.mu.Lock()
	through := l.answers.marker(l.now(), 0)
	l.mu.Unlock()
	return l.writeEpoch(ctx, s, through)
}

func (l *Ledger) writeEpoch(ctx context.Context, s logical.Storage, through time.Time) error {
	entry, err := logical.StorageEntryJSON(EpochPrefix+l.epoch, epochEntry{ConfirmedThrough: through})
	if err != nil {
		return fmt.Errorf("error encoding the ledger's epoch: %w", err)
	}
	if err := s.Put(ctx, entry); err != nil {
		return fmt.Errorf("error recording which leases this instance confirmed: %w", err)
	}
	l.mu.Lock()
	l.epochs[l.epoch] = through
	l.mu.Unlock()
	return nil
}

func loadEpochs(ctx context.Context, s logical.Storage) (map[string]time.Time, error) {
	ids, err := s.List(ctx, EpochPrefix)
	if err != nil {
		return nil, fmt.Errorf("error listing the ledger's epochs: %w", err)
	}
	epochs := make(map[string]time.Time, len(ids))
	for _, id := range ids {
		entry, err := s.Get(ctx, EpochPrefix+id)
		if err != nil {
			return nil, fmt.Errorf("error reading the ledger's epoch %s: %w", id, err)
		}
		if entry == nil {
			continue
		}
		var e epochEntry
		if err := entry.DecodeJSON(&e); err != nil {
			return nil, fmt.Errorf("error decoding the ledger's epoch %s: %w", id, err)
		}
		epochs[id] = e.ConfirmedThrough
	}
	return epochs, nil
}

// pruneEpochs deletes the records of other instances that no batch names.
func (l *Ledger) pruneEpochs(ctx context.Context, s logical.Storage) error {
	l.mu.Lock()
	used := map[string]bool{l.epoch: true}
	for _, tok := range l.tokens {
		for _, b := range tok.batches {
			used[b.epoch] = true
		}
	}
	var unused []string
	for id := range l.epochs {
		if !used[id] {
			unused = append(unused, id)
		}
	}
	l.mu.Unlock()
	for _, id := range unused {
		if err := s.Delete(ctx, EpochPrefix+id); err != nil {
			return fmt.Errorf("error deleting the ledger's epoch %s: %w", id, err)
		}
		l.mu.Lock()
		delete(l.epochs, id)
		l.mu.Unlock()
	}
	return nil
}
