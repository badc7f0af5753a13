package ledger

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
)

// writer makes new holders durable. Every lease must be recorded before its
// creds response leaves, but a storage write is a round trip to Vault; so
// concurrent reads commit together: while one write is in flight the next
// reads queue, and the next write takes them all. The reader that writes
// does so for the queue it found, then hands the pen to the first reader
// that queued meanwhile: a reader waits for the write in flight and its
// own, never for everyone's under steady traffic.
type writer struct {
	l *Ledger

	// mu guards queue and busy; never held with Ledger.mu.
	mu    sync.Mutex
	queue []*newHolder
	busy  bool
}

// newHolder is a holder waiting for its first write.
type newHolder struct {
	tid, hid string
	h        holderEntry
	done     chan error    // the outcome of its write
	lead     chan struct{} // told to write the queue itself
}

func newWriter(l *Ledger) *writer {
	return &writer{l: l}
}

// persist writes p in a batch with whatever reads queued beside it.
func (w *writer) persist(ctx context.Context, s logical.Storage, p *newHolder) error {
	w.mu.Lock()
	w.queue = append(w.queue, p)
	if w.busy {
		w.mu.Unlock()
		select {
		case err := <-p.done:
			return err
		case <-p.lead:
		}
		w.mu.Lock()
	} else {
		w.busy = true
	}
	q := w.queue
	w.queue = nil
	w.mu.Unlock()

	// The writer writes for the others too: their requests must not fail
	// because this one was cancelled.
	w.writeAll(context.WithoutCancel(ctx), s, q)

	w.mu.Lock()
	if len(w.queue) > 0 {
		w.queue[0].lead <- struct{}{}
	} else {
		w.busy = false
	}
	w.mu.Unlock()
	return <-p.done
}

func (w *writer) writeAll(ctx context.Context, s logical.Storage, q []*newHolder) {
	byToken := map[string][]*newHolder{}
	var order []string
	for _, p := range q {
		if byToken[p.tid] == nil {
			order = append(order, p.tid)
		}
		byToken[p.tid] = append(byToken[p.tid], p)
	}
	for _, tid := range order {
		ps := byToken[tid]
		for len(ps) > 0 {
			n := min(len(ps), maxBatchHolders)
			w.writeOne(ctx, s, tid, ps[:n])
			ps = ps[n:]
		}
	}
}

func (w *writer) writeOne(ctx context.Context, s logical.Storage, tid string, ps []*newHolder) {
	id, err := newBatchID()
	b := &batch{id: id, epoch: w.l.epoch, writtenAt: w.l.now(), members: make(map[string]struct{}, len(ps))}
	be := &batchEntry{Holders: make(map[string]holderEntry, len(ps)), Epoch: b.epoch, WrittenAt: b.writtenAt}
	for _, p := range ps {
		be.Holders[p.hid] = p.h
		b.members[p.hid] = struct{}{}
	}
	if err == nil {
		err = putBatch(ctx, s, tid, id, be)
	}
	if err == nil && !w.l.register(tid, b) {
		// The token was revoked (break glass) while its holders were in
		// flight: what was written belongs to nothing.
		if derr := s.Delete(ctx, batchKey(tid, id)); derr != nil {
			w.l.log.Warn("could not delete holders written for a token revoked meanwhile; the sweep will", "error", derr)
		}
		err = ErrRevokedMeanwhile
	}
	for _, p := range ps {
		p.done <- err
	}
}

// register makes a written batch the home of its holders; false when the
// token is no longer in the ledger.
func (l *Ledger) register(tid string, b *batch) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	tok := l.tokens[tid]
	if tok == nil {
		return false
	}
	for hid := range b.members {
		if h := tok.holders[hid]; h != nil {
			h.batch = b
		} else {
			delete(b.members, hid)
		}
	}
	tok.batches[b.id] = b
	return true
}

// ErrRevokedMeanwhile: the token was revoked while the operation was in
// flight (a grant answered by Salesforce just before a revocation of the same
// session landed, or a reuse racing break glass). Ask Salesforce again: it
// starts a new session.
var ErrRevokedMeanwhile = errors.New("the token was revoked while this request was in flight")

// holderWrite is a new holder's first write, timed for its expiry: the
// expiry is fixed when the holder is recorded, never earlier, so that it is
// not shorter than the lease whose clock Vault starts on the answer.
func holderWrite(tid, hid, role string, expires time.Time) *newHolder {
	return &newHolder{
		tid: tid, hid: hid,
		h:    holderEntry{ExpiresAt: expires, Role: role},
		done: make(chan error, 1),
		lead: make(chan struct{}, 1),
	}
}
