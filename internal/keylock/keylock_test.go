package keylock

import (
	"sync"
	"testing"
)

func TestLockSerialisesOneKey(t *testing.T) {
	var tab Table
	var wg sync.WaitGroup
	inside := 0
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			unlock := tab.Lock("k")
			inside++
			if inside != 1 {
				t.Errorf("%d holders of one key at once", inside)
			}
			inside--
			unlock()
		}()
	}
	wg.Wait()
}

func TestKeysAreIndependentAndForgotten(t *testing.T) {
	var tab Table
	a := tab.Lock("a")
	b := tab.Lock("b") // would deadlock if keys shared a mutex
	if tab.Len() != 2 {
		t.Fatalf("Len = %d with two keys held, want 2", tab.Len())
	}
	a()
	b()
	if tab.Len() != 0 {
		t.Fatalf("Len = %d after every lock was released, want 0: the table keeps keys no one uses", tab.Len())
	}
}
