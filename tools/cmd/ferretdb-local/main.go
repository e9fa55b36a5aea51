// Command ferretdb-local runs FerretDB v1 embedded, as the local MongoDB-wire
// server of the NgsReach stack (SQLite by default, PostgreSQL for measuring
// at scale).
//
// Why a wrapper instead of FerretDB's own cmd/ferretdb: when FerretDB is the
// main module of a binary, its build/version package panics at start-up for
// want of build/version/version.txt, which only its own build tasks write.
// Embedded, FerretDB never reads that file, never starts its telemetry
// reporter and opens no debug listener, so two instances never collide.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	listen := flag.String("listen-addr", "127.0.0.1:27117", "TCP address to listen on")
	handler := flag.String("handler", "sqlite", "backend: sqlite or postgresql")
	sqliteURL := flag.String("sqlite-url", "file:data/", "SQLite directory URI (sqlite handler), must end with /")
	pgURL := flag.String("postgresql-url", "", "PostgreSQL URL (postgresql handler)")
	logLevel := flag.String("log-level", "warn", "debug, info, warn or error")
	documentLocks := flag.Bool("document-locks", true, "make each update, findAndModify and delete statement atomic per document (false only for tests that must see lost updates)")
	flag.Parse()

	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintf(os.Stderr, "ferretdb-local: bad -log-level %q\n", *logLevel)
		os.Exit(2)
	}
	logger := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	// Read by the handler's document locks, a patch of scripts/build-tools.ts (upstream FerretDB ignores it);
	// set either way, so an inherited variable never decides.
	locks := "on"
	if !*documentLocks {
		locks = "off"
	}
	os.Setenv("FERRETDB_DOCUMENT_LOCKS", locks)

	f, err := ferretdb.New(&ferretdb.Config{
		Listener:      ferretdb.ListenerConfig{TCP: *listen},
		Logger:        logger,
		Handler:       *handler,
		SQLiteURL:     *sqliteURL,
		PostgreSQLURL: *pgURL,
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "ferretdb-local: %v\n", err)
		os.Exit(1)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	// FERRETDB_CPU_PROFILE=<file> writes a Go CPU profile until a clean stop (SIGTERM): what the benchmarks
	// use to see where the database's time goes (`go tool pprof -top <binary> <file>`).
	if path := os.Getenv("FERRETDB_CPU_PROFILE"); path != "" {
		out, err := os.Create(path)
		if err == nil {
			err = pprof.StartCPUProfile(out)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "ferretdb-local: FERRETDB_CPU_PROFILE: %v\n", err)
			os.Exit(1)
		}
		defer func() {
			pprof.StopCPUProfile()
			out.Close()
		}()
	}

	if err := f.Run(ctx); err != nil && ctx.Err() == nil {
		fmt.Fprintf(os.Stderr, "ferretdb-local: %v\n", err)
		os.Exit(1)
	}
}
