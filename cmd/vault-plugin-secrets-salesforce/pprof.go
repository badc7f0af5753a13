//go:build pprof

package main

// Built only with -tags pprof (make bench does, for a separate profiling
// mount): release builds carry no profiling endpoint. It serves
// net/http/pprof on the loopback address in SALESFORCE_PLUGIN_PPROF_ADDR,
// which `vault plugin register -env` hands to the plugin process, so that the
// hot path can be profiled where it runs: inside Vault, behind gRPC.

import (
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"

	hclog "github.com/hashicorp/go-hclog"
)

const pprofAddrEnv = "SALESFORCE_PLUGIN_PPROF_ADDR"

func init() {
	addr := os.Getenv(pprofAddrEnv)
	if addr == "" {
		return
	}
	log := hclog.New(&hclog.LoggerOptions{Name: "pprof"})
	host, _, err := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		log.Error("not serving pprof: the address must be a loopback IP and port", "env", pprofAddrEnv, "addr", addr)
		return
	}
	go func() {
		log.Error("pprof stopped", "error", http.ListenAndServe(addr, nil))
	}()
}
