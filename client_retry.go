package salesforce

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Retries: backoff with jitter, Salesforce's Retry-After, and which
// failures are worth another attempt.

// retryPolicy is capped exponential backoff with full jitter: concurrent
// Vault requests that failed together do not come back together.
type retryPolicy struct {
	MaxAttempts int
	BaseDelay   time.Duration
	MaxDelay    time.Duration
}

var defaultRetryPolicy = retryPolicy{MaxAttempts: 4, BaseDelay: 100 * time.Millisecond, MaxDelay: 2 * time.Second}

// delay is the pause before retry number n (n >= 1).
func (p retryPolicy) delay(n int) time.Duration {
	if p.BaseDelay <= 0 {
		return 0
	}
	ceiling := p.MaxDelay
	if n < 32 {
		if d := p.BaseDelay << (n - 1); d > 0 && (ceiling <= 0 || d < ceiling) {
			ceiling = d
		}
	}
	if ceiling <= 0 {
		return 0
	}
	return rand.N(ceiling + 1) //nolint:gosec // G404: jitter spreads retries; it guards nothing
}

// pause waits before retry number n: the backoff, or longer when Salesforce
// said when to come back (Retry-After). A wait that the request's deadline
// or maxRetryAfter does not allow is not started: the caller hears at once
// how long Salesforce asked for, rather than after a wait that must fail.
func (c *sfClient) pause(ctx context.Context, op string, n int, asked time.Duration, lastErr error) error {
	d := c.retry.delay(n)
	if asked > maxRetryAfter {
		return fmt.Errorf("salesforce asked to retry after %d seconds, longer than the engine waits within a request (%s): try again later; last error: %w",
			ceilSeconds(asked), maxRetryAfter, lastErr)
	}
	d = max(d, asked)
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < d {
		if asked > 0 {
			return fmt.Errorf("salesforce asked to retry after %d seconds, past the request's deadline: try again later; last error: %w",
				ceilSeconds(asked), lastErr)
		}
		return fmt.Errorf("the request's deadline leaves no time for another attempt; last error: %w", lastErr)
	}
	c.logger.Debug("retrying salesforce request", "op", op, "next_attempt", n+1, "delay", d, "retry_after", asked)
	if err := c.sleep(ctx, d); err != nil {
		return fmt.Errorf("%w; last error: %v", err, lastErr)
	}
	return nil
}

// parseRetryAfter reads a Retry-After header (RFC 9110 10.2.3): a number
// of seconds or an HTTP-date. Anything else, or a date already past, is no
// wait at all; a number too large to hold saturates, and is then refused
// as longer than maxRetryAfter.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if strings.Trim(v, "0123456789") == "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n > maxRetryAfterSeconds {
			return maxRetryAfterSeconds * time.Second
		}
		return time.Duration(n) * time.Second
	}
	t, err := http.ParseTime(v)
	if err != nil || !t.After(now) {
		return 0
	}
	return t.Sub(now)
}

// ceilSeconds is d in whole seconds, rounded up, as a person would read it.
func ceilSeconds(d time.Duration) int64 {
	return int64((d + time.Second - 1) / time.Second)
}

// retryableTransportError: a certificate that does not verify will not
// verify on the next attempt either, so fail fast with the fix.
func retryableTransportError(err error) bool {
	return !isCertificateError(err)
}

func isCertificateError(err error) bool {
	var unknownAuthority x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	var verify *tls.CertificateVerificationError
	return errors.As(err, &unknownAuthority) || errors.As(err, &hostname) ||
		errors.As(err, &invalid) || errors.As(err, &verify)
}

func describeTransportError(err error) error {
	if isCertificateError(err) {
		return fmt.Errorf("%w (set the connection's 'ca_cert' to the CA that signed the server's certificate, or correct 'login_url')", err)
	}
	return fmt.Errorf("%w (check that Vault can reach 'login_url')", err)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
