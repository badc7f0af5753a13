package ledger

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
)

// maxBatchHolders bounds a holder batch: a revocation or renewal rewrites
// its holder's batch, so what it rewrites never grows with the number of
// leases a token has, only with how many reads arrived together.
const maxBatchHolders = 64

// holder is one lease of a token.
type holder struct {
	expiresAt time.Time
	role      string
	// confirmed: a renewal proved that Vault registered the lease.
	confirmed bool
	// batch is the storage entry that holds it; nil until it is durable.
	batch *batch
}

// batch is one storage entry, ledger/holders/<token>/<batch>, holding the
// leases that were recorded together. Its holders live in the token's
// holder map; the batch only names them.
type batch struct {
	id        string
	epoch     string
	writtenAt time.Time
	members   map[string]struct{}
}

// batchEntry is a batch as stored.
type batchEntry struct {
	Holders   map[string]holderEntry `json:"holders"`
	Epoch     string                 `json:"epoch,omitempty"`
	WrittenAt time.Time              `json:"written_at,omitzero"`
}

type holderEntry struct {
	ExpiresAt time.Time `json:"expires_at"`
	Role      string    `json:"role,omitempty"`
	Confirmed bool      `json:"confirmed,omitempty"`
}

func batchKey(tid, id string) string { return HolderPrefix + tid + "/" + id }

func newBatchID() (string, error) {
	var buf [12]byte
	if _, err := rand.Read(buf[:]); err != nil {
		return "", fmt.Errorf("error generating a holder batch ID: %w", err)
	}
	return hex.EncodeToString(buf[:]), nil
}

func putBatch(ctx context.Context, s logical.Storage, tid, id string, be *batchEntry) error {
	entry, err := logical.StorageEntryJSON(batchKey(tid, id), be)
	if err != nil {
		return fmt.Errorf("error encoding ledger holders: %w", err)
	}
	if err := s.Put(ctx, entry); err != nil {
		return fmt.Errorf("error recording leases in the token ledger: %w", err)
	}
	return nil
}

// entryOf is what a batch of tok stores, with change applied to a copy of
// its holders: the memory is changed only once the write succeeded.
func (tok *token) entryOf(b *batch, change map[string]*holder) *batchEntry {
	be := &batchEntry{Holders: make(map[string]holderEntry, len(b.members)), Epoch: b.epoch, WrittenAt: b.writtenAt}
	for hid := range b.members {
		h := tok.holders[hid]
		if c, ok := change[hid]; ok {
			h = c
		}
		if h != nil {
			be.Holders[hid] = h.entry()
		}
	}
	return be
}

func (h *holder) entry() holderEntry {
	return holderEntry{ExpiresAt: h.expiresAt, Role: h.role, Confirmed: h.confirmed}
}

// writeBatch stores b of tok with change applied (a nil holder removes it),
// deleting the entry once it is empty. The caller holds the session lock,
// so nothing else rewrites b meanwhile; reads racing it may add holders to
// the token (never to an existing batch), hence the entry is built under mu.
func (l *Ledger) writeBatch(ctx context.Context, s logical.Storage, tok *token, b *batch, change map[string]*holder) error {
	l.mu.Lock()
	be := tok.entryOf(b, change)
	l.mu.Unlock()
	if len(be.Holders) == 0 {
		if err := s.Delete(ctx, batchKey(tok.rec.ID, b.id)); err != nil {
			return fmt.Errorf("error removing leases from the token ledger: %w", err)
		}
		return nil
	}
	return putBatch(ctx, s, tok.rec.ID, b.id, be)
}

// loadBatches reads a token's batches from storage.
func loadBatches(ctx context.Context, s logical.Storage, tok *token) error {
	tid := tok.rec.ID
	ids, err := s.List(ctx, HolderPrefix+tid+"/")
	if err != nil {
		return fmt.Errorf("error listing holders of ledger token %s: %w", tid, err)
	}
	for _, id := range ids {
		entry, err := s.Get(ctx, batchKey(tid, id))
		if err != nil {
			return fmt.Errorf("error reading holders of ledger token %s: %w", tid, err)
		}
		if entry == nil {
			continue
		}
		var be batchEntry
		if err := entry.DecodeJSON(&be); err != nil {
			return fmt.Errorf("error decoding holders of ledger token %s: %w", tid, err)
		}
		b := &batch{id: id, epoch: be.Epoch, writtenAt: be.WrittenAt, members: map[string]struct{}{}}
		for hid, he := range be.Holders {
			// Batches written before epochs existed carry no write time:
			// their leases are as good as confirmed.
			confirmed := he.Confirmed || be.WrittenAt.IsZero()
			tok.holders[hid] = &holder{expiresAt: he.ExpiresAt, role: he.Role, confirmed: confirmed, batch: b}
			b.members[hid] = struct{}{}
		}
		tok.batches[id] = b
	}
	return nil
}
