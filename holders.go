package salesforce

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
)

// maxBatchHolders bounds a holder batch: a revocation or renewal rewrites
// its holder's batch, so what it rewrites never grows with the number of
// leases a token has, only with how many reads arrived together.
const maxBatchHolders = 64

// holderBatch is one storage entry, ledger/holders/<token>/<batch>, holding
// the leases that were recorded together.
type holderBatch struct {
	tid string
	id  string

	mu      sync.Mutex // serialises rewrites of this entry
	holders map[string]holderRecord
}

type batchEntry struct {
	Holders map[string]holderRecord `json:"holders"`
}

func (hb *holderBatch) key() string { return ledgerHolderPrefix + hb.tid + "/" + hb.id }

// holderStore makes holders durable. Every lease must be recorded before
// its creds response leaves, but a storage write is a round trip to Vault;
// so concurrent reads commit together: while one write is in flight, the
// next reads queue, and the next write takes them all. One reader alone
// waits for nothing more than its own write.
type holderStore struct {
	mu       sync.Mutex
	byHolder map[string]*holderBatch
	byToken  map[string]map[string]*holderBatch
	queue    []*pendingHolder
	flushing bool
}

type pendingHolder struct {
	tid, hid string
	rec      holderRecord
	done     chan error
}

func newHolderStore() *holderStore {
	return &holderStore{byHolder: map[string]*holderBatch{}, byToken: map[string]map[string]*holderBatch{}}
}

// persist records a holder durably, in a batch with whatever reads arrived
// while the previous batch was being written.
func (hs *holderStore) persist(ctx context.Context, s logical.Storage, tid, hid string, rec holderRecord) error {
	p := &pendingHolder{tid: tid, hid: hid, rec: rec, done: make(chan error, 1)}
	hs.mu.Lock()
	hs.queue = append(hs.queue, p)
	if hs.flushing {
		hs.mu.Unlock()
		return <-p.done
	}
	hs.flushing = true
	// The leader writes for followers too: their requests must not fail
	// because the leader's was cancelled.
	wctx := context.WithoutCancel(ctx)
	for len(hs.queue) > 0 {
		q := hs.queue
		hs.queue = nil
		hs.mu.Unlock()
		hs.writeBatches(wctx, s, q)
		hs.mu.Lock()
	}
	hs.flushing = false
	hs.mu.Unlock()
	return <-p.done
}

func (hs *holderStore) writeBatches(ctx context.Context, s logical.Storage, q []*pendingHolder) {
	byToken := map[string][]*pendingHolder{}
	for _, p := range q {
		byToken[p.tid] = append(byToken[p.tid], p)
	}
	for tid, ps := range byToken {
		for len(ps) > 0 {
			n := min(len(ps), maxBatchHolders)
			hs.writeBatch(ctx, s, tid, ps[:n])
			ps = ps[n:]
		}
	}
}

func (hs *holderStore) writeBatch(ctx context.Context, s logical.Storage, tid string, ps []*pendingHolder) {
	hb := &holderBatch{tid: tid, holders: make(map[string]holderRecord, len(ps))}
	for _, p := range ps {
		hb.holders[p.hid] = p.rec
	}
	err := newBatchID(hb)
	if err == nil {
		err = putBatch(ctx, s, hb)
	}
	if err == nil {
		hs.register(hb)
	}
	for _, p := range ps {
		p.done <- err
	}
}

func newBatchID(hb *holderBatch) error {
	var buf [12]byte
	if _, err := rand.Read(buf[:]); err != nil {
		return fmt.Errorf("error generating a holder batch ID: %w", err)
	}
	hb.id = hex.EncodeToString(buf[:])
	return nil
}

func putBatch(ctx context.Context, s logical.Storage, hb *holderBatch) error {
	entry, err := logical.StorageEntryJSON(hb.key(), batchEntry{Holders: hb.holders})
	if err != nil {
		return fmt.Errorf("error encoding ledger holders: %w", err)
	}
	if err := s.Put(ctx, entry); err != nil {
		return fmt.Errorf("error recording leases in the token ledger: %w", err)
	}
	return nil
}

func (hs *holderStore) register(hb *holderBatch) {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	for hid := range hb.holders {
		hs.byHolder[hid] = hb
	}
	if hs.byToken[hb.tid] == nil {
		hs.byToken[hb.tid] = map[string]*holderBatch{}
	}
	hs.byToken[hb.tid][hb.id] = hb
}

// remove takes a holder out of its batch durably. A holder never recorded
// (its read failed) or already removed is not an error.
func (hs *holderStore) remove(ctx context.Context, s logical.Storage, hid string) error {
	return hs.rewrite(ctx, s, hid, func(hb *holderBatch) { delete(hb.holders, hid) })
}

// update moves a holder's expiry durably; false if the holder is unknown.
func (hs *holderStore) update(ctx context.Context, s logical.Storage, hid string, rec holderRecord) (bool, error) {
	hs.mu.Lock()
	_, ok := hs.byHolder[hid]
	hs.mu.Unlock()
	if !ok {
		return false, nil
	}
	return true, hs.rewrite(ctx, s, hid, func(hb *holderBatch) { hb.holders[hid] = rec })
}

// rewrite applies change to the holder's batch and writes it back, or
// deletes it once empty. On a failed write the batch is left as it was.
func (hs *holderStore) rewrite(ctx context.Context, s logical.Storage, hid string, change func(*holderBatch)) error {
	hs.mu.Lock()
	hb := hs.byHolder[hid]
	hs.mu.Unlock()
	if hb == nil {
		return nil
	}
	hb.mu.Lock()
	defer hb.mu.Unlock()
	before := make(map[string]holderRecord, len(hb.holders))
	for k, v := range hb.holders {
		before[k] = v
	}
	change(hb)
	var err error
	if len(hb.holders) == 0 {
		err = s.Delete(ctx, hb.key())
	} else {
		err = putBatch(ctx, s, hb)
	}
	if err != nil {
		hb.holders = before
		return err
	}
	if _, still := hb.holders[hid]; !still {
		hs.unregister(hb, hid)
	}
	return nil
}

func (hs *holderStore) unregister(hb *holderBatch, hid string) {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	delete(hs.byHolder, hid)
	if len(hb.holders) == 0 {
		delete(hs.byToken[hb.tid], hb.id)
		if len(hs.byToken[hb.tid]) == 0 {
			delete(hs.byToken, hb.tid)
		}
	}
}

// dropToken deletes every batch of a revoked token.
func (hs *holderStore) dropToken(ctx context.Context, s logical.Storage, tid string) error {
	hs.mu.Lock()
	var batches []*holderBatch
	for _, hb := range hs.byToken[tid] {
		batches = append(batches, hb)
	}
	hs.mu.Unlock()
	for _, hb := range batches {
		hb.mu.Lock()
		err := s.Delete(ctx, hb.key())
		if err == nil {
			hs.mu.Lock()
			for hid := range hb.holders {
				delete(hs.byHolder, hid)
			}
			delete(hs.byToken[tid], hb.id)
			hs.mu.Unlock()
			clear(hb.holders)
		}
		hb.mu.Unlock()
		if err != nil {
			return fmt.Errorf("error removing the holders of a revoked token from the ledger: %w", err)
		}
	}
	hs.mu.Lock()
	delete(hs.byToken, tid)
	hs.mu.Unlock()
	return nil
}

// load reads a token's batches from storage and returns its holders.
func (hs *holderStore) load(ctx context.Context, s logical.Storage, tid string) (map[string]time.Time, error) {
	ids, err := s.List(ctx, ledgerHolderPrefix+tid+"/")
	if err != nil {
		return nil, fmt.Errorf("error listing holders of ledger token %s: %w", tid, err)
	}
	holders := map[string]time.Time{}
	for _, id := range ids {
		entry, err := s.Get(ctx, ledgerHolderPrefix+tid+"/"+id)
		if err != nil {
			return nil, fmt.Errorf("error reading holders of ledger token %s: %w", tid, err)
		}
		if entry == nil {
			continue
		}
		var be batchEntry
		if err := entry.DecodeJSON(&be); err != nil {
			return nil, fmt.Errorf("error decoding holders of ledger token %s: %w", tid, err)
		}
		hb := &holderBatch{tid: tid, id: id, holders: be.Holders}
		if hb.holders == nil {
			hb.holders = map[string]holderRecord{}
		}
		for hid, rec := range hb.holders {
			holders[hid] = rec.ExpiresAt
		}
		hs.register(hb)
	}
	return holders, nil
}
