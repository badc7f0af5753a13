// Package keylock is a table of mutexes by key that holds only the keys in
// use: an entry exists while someone holds or waits for its lock, so the
// table never grows with the number of keys ever seen (users, sessions,
// connections), only with those being worked on at once.
package keylock

import "sync"

// Table is a set of mutexes by key. The zero value is ready to use; it must
// not be copied after first use.
type Table struct {
	mu      sync.Mutex
	entries map[string]*entry
}

type entry struct {
	mu   sync.Mutex
	refs int // holders and waiters; guarded by Table.mu
}

// Lock takes key's lock and returns the function that releases it.
func (t *Table) Lock(key string) (unlock func()) {
	t.mu.Lock()
	if t.entries == nil {
		t.entries = map[string]*entry{}
	}
	e := t.entries[key]
	if e == nil {
		e = &entry{}
		t.entries[key] = e
	}
	e.refs++
	t.mu.Unlock()

	e.mu.Lock()
	return func() {
		e.mu.Unlock()
		t.mu.Lock()
		e.refs--
		if e.refs == 0 {
			delete(t.entries, key)
		}
		t.mu.Unlock()
	}
}

// Len is the number of keys held or waited for, for tests and metrics.
func (t *Table) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.entries)
}
