package salesforce

// Retry-After on 429 and 503: honoured within the request's deadline and
// maxRetryAfter, given up on at once beyond them.

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// waits records the pauses a client asks for, without waiting.
type waits struct {
	mu sync.Mutex
	d  []time.Duration
}

func (w *waits) sleep(ctx context.Context, d time.Duration) error {
	w.mu.Lock()
	w.d = append(w.d, d)
	w.mu.Unlock()
	return ctx.Err()
}

func (w *waits) all() []time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]time.Duration(nil), w.d...)
}

// busyOnce answers status with the given Retry-After first, then a token.
func busyOnce(status int, retryAfter string) (http.HandlerFunc, *atomic.Int32) {
	var n atomic.Int32
	return func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			w.Header().Set("Retry-After", retryAfter)
			writeJSON(w, status, map[string]string{"error": "busy"})
			return
		}
		writeJSON(w, http.StatusOK, tokenAnswer())
	}, &n
}

func waitingClient(t *testing.T, h http.HandlerFunc, now time.Time) (*sfClient, *waits) {
	t.Helper()
	c := newFakeSF(t, h).client(t, nil)
	w := &waits{}
	c.sleep = w.sleep
	c.now = func() time.Time { return now }
	return c, w
}

func TestRetryAfterIsHonoured(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	rows := []struct {
		name       string
		status     int
		retryAfter string
		want       time.Duration
	}{
		{"429 seconds", http.StatusTooManyRequests, "7", 7 * time.Second},
		{"503 seconds", http.StatusServiceUnavailable, "3", 3 * time.Second},
		{"503 HTTP-date", http.StatusServiceUnavailable, now.Add(12 * time.Second).Format(http.TimeFormat), 12 * time.Second},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			h, calls := busyOnce(row.status, row.retryAfter)
			c, w := waitingClient(t, h, now)
			if _, err := c.GrantJWT(context.Background(), rsaKey(t), testUsername); err != nil {
				t.Fatal(err)
			}
			if got := w.all(); len(got) != 1 || got[0] != row.want || calls.Load() != 2 {
				t.Errorf("waited %v over %d calls, want [%v] over 2", got, calls.Load(), row.want)
			}
		})
	}
}

func TestRetryAfterPastTheDeadlineGivesUpAtOnce(t *testing.T) {
	h, calls := busyOnce(http.StatusTooManyRequests, "20")
	c, w := waitingClient(t, h, time.Now())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := c.GrantJWT(ctx, rsaKey(t), testUsername)
	var ue *unavailableError
	if !errors.As(err, &ue) || ue.LastStatus != http.StatusTooManyRequests {
		t.Fatalf("err = %v, want an unavailableError after a 429", err)
	}
	assertContains(t, err.Error(), "asked to retry after 20 seconds", "deadline")
	if calls.Load() != 1 || len(w.all()) != 0 {
		t.Errorf("%d calls and waits %v, want 1 call and no wait", calls.Load(), w.all())
	}
}

func TestRetryAfterBeyondTheMaximumGivesUpAtOnce(t *testing.T) {
	for _, v := range []string{"3600", "99999999999999999999999"} {
		h, calls := busyOnce(http.StatusServiceUnavailable, v)
		c, w := waitingClient(t, h, time.Now())
		_, err := c.GrantJWT(context.Background(), rsaKey(t), testUsername)
		var ue *unavailableError
		if !errors.As(err, &ue) {
			t.Fatalf("%s: err = %v", v, err)
		}
		assertContains(t, err.Error(), "asked to retry after ", " seconds", "try again later")
		if v == "3600" {
			assertContains(t, err.Error(), "after 3600 seconds")
		}
		if calls.Load() != 1 || len(w.all()) != 0 {
			t.Errorf("%s: %d calls and waits %v, want 1 call and no wait", v, calls.Load(), w.all())
		}
	}
}

// TestRetryAfterOnlyWhereItMeansSomething: a 500's Retry-After and a
// Retry-After that is no time are ignored; the backoff applies.
func TestRetryAfterOnlyWhereItMeansSomething(t *testing.T) {
	rows := []struct {
		status int
		value  string
	}{
		{http.StatusInternalServerError, "3600"},
		{http.StatusTooManyRequests, "soon"},
		{http.StatusServiceUnavailable, "Mon, 01 Jan 2001 00:00:00 GMT"},
	}
	for _, row := range rows {
		h, calls := busyOnce(row.status, row.value)
		c, w := waitingClient(t, h, time.Now())
		if _, err := c.GrantJWT(context.Background(), rsaKey(t), testUsername); err != nil {
			t.Fatalf("%d %q: %v", row.status, row.value, err)
		}
		got := w.all()
		if calls.Load() != 2 || len(got) != 1 || got[0] > fastRetry.MaxDelay {
			t.Errorf("%d %q: waits %v over %d calls, want one backoff of at most %v", row.status, row.value, got, calls.Load(), fastRetry.MaxDelay)
		}
	}
}

func TestRetryAfterNamedWhenAttemptsRunOut(t *testing.T) {
	f := newFakeSF(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "2")
		w.WriteHeader(http.StatusTooManyRequests)
	})
	c := f.client(t, nil)
	w := &waits{}
	c.sleep = w.sleep
	_, err := c.GrantJWT(context.Background(), rsaKey(t), testUsername)
	if err == nil || !strings.Contains(err.Error(), "salesforce asked to retry after 2 seconds") {
		t.Fatalf("err = %v", err)
	}
	if got := w.all(); len(got) != fastRetry.MaxAttempts-1 || got[0] != 2*time.Second {
		t.Errorf("waits %v, want %d waits of 2s", got, fastRetry.MaxAttempts-1)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	rows := map[string]time.Duration{
		"":    0,
		"0":   0,
		" 5 ": 5 * time.Second,
		"-5":  0,
		"1.5": 0,
		now.Add(90 * time.Second).Format(http.TimeFormat): 90 * time.Second,
		now.Add(-time.Hour).Format(http.TimeFormat):       0,
		"99999999999999999999":                            maxRetryAfterSeconds * time.Second,
	}
	for v, want := range rows {
		if got := parseRetryAfter(v, now); got != want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", v, got, want)
		}
	}
}
