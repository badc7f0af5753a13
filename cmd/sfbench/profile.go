package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

// profileSeconds is how long the plugin's CPU profile runs.
const profileSeconds = 10

// profilePlugin loads creds/<role> of a mount whose plugin was built with
// -tags pprof, with o.loadClients clients, while it takes a CPU profile from
// the plugin process's pprof endpoint; the profile goes to o.profileOut.
// make bench runs it on its own mount before the measured phases, so the
// figures come from the release build and the profile from the same code.
func profilePlugin(ctx context.Context, o options, vault *vaultClient) error {
	path := o.mount + "/creds/" + o.profileRole
	op := func(ctx context.Context) error {
		_, err := vault.raw(ctx, "GET", path, nil)
		return err
	}
	if err := op(ctx); err != nil {
		return fmt.Errorf("reading %s before the profile: %w", path, err)
	}
	loadDone := make(chan loadResult, 1)
	go func() {
		// The load starts before the profile and ends after it.
		loadDone <- runLoad(ctx, loadSpec{name: "creds read (profiled)", clients: o.loadClients, duration: (profileSeconds + 2) * time.Second, op: op})
	}()
	time.Sleep(time.Second)
	profErr := fetchProfile(ctx, o.profileURL, o.profileOut)
	r := <-loadDone
	logf("%s", r)
	if profErr != nil {
		return profErr
	}
	if r.Errors > 0 {
		return fmt.Errorf("%d of the profiled reads failed: %s", r.Errors, r.FirstError)
	}
	return nil
}

func fetchProfile(ctx context.Context, base, out string) error {
	ctx, cancel := context.WithTimeout(ctx, (profileSeconds+30)*time.Second)
	defer cancel()
	url := fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", base, profileSeconds)
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("fetching the plugin's CPU profile: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("fetching the plugin's CPU profile: HTTP %d", resp.StatusCode)
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		_ = f.Close() // the copy's error is the one to report
		return fmt.Errorf("saving the plugin's CPU profile: %w", err)
	}
	return f.Close()
}
