package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/fcn-dev/fcn/board"
)

const boardUsage = `usage: fcn board [RUNS_DIR] [--addr 127.0.0.1:6006]

Serves a web page that watches the run folders under RUNS_DIR (default "runs"): their
status and ETA, live curves of train loss, learning rate, val mIoU and pixel accuracy with
several runs overlaid, the latest evaluation's per-class IoU and confusion matrix, the
prediction overlays of every evaluation, each run's resolved config, and fcn compare
reports. It reads the folders only, and binds loopback unless --addr says otherwise.

flags:
`

const defaultBoardAddr = "127.0.0.1:6006"

// runBoard is `fcn board`.
func runBoard(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("fcn board", boardUsage, stderr)
	addr := fs.String("addr", defaultBoardAddr, "address to listen on (host:port; 0.0.0.0:6006 serves other machines too)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	dir := "runs"
	switch len(pos) {
	case 0:
	case 1:
		dir = pos[0]
	default:
		return fmt.Errorf("unexpected argument %q: one RUNS_DIR at most", pos[1])
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return fmt.Errorf("%s is not a folder: give the folder your runs are in (fcn train writes runs/ by default)", dir)
	}
	ln, err := board.Listen(*addr)
	if err != nil {
		return err
	}
	return board.Serve(ctx, ln, dir, stdout)
}

// boardFlags are --board and --board-addr of fcn train and fcn compare.
type boardFlags struct {
	on   *bool
	addr *string
}

func addBoardFlags(fs *flag.FlagSet, what string) boardFlags {
	return boardFlags{
		on:   fs.Bool("board", false, "serve fcn board over "+what+" while it trains (and, for fcn train, after, until Ctrl-C)"),
		addr: fs.String("board-addr", defaultBoardAddr, "with --board: address to listen on"),
	}
}

// start serves the board of dir's parent folder (so the run sits beside the others)
// when --board is given, until ctx is done. The port is bound before it returns, so a
// busy one is an error before any training. wait blocks until the board has stopped.
func (b boardFlags) start(ctx context.Context, dir string, stdout io.Writer) (wait func(), err error) {
	if !*b.on {
		return func() {}, nil
	}
	ln, err := board.Listen(*b.addr)
	if err != nil {
		return nil, fmt.Errorf("--board: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(filepath.Clean(dir)), 0o755); err != nil {
		ln.Close()
		return nil, fmt.Errorf("--board: %w", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := board.Serve(ctx, ln, filepath.Dir(filepath.Clean(dir)), stdout); err != nil {
			fmt.Fprintf(stdout, "board: %v\n", err)
		}
	}()
	return func() { <-done }, nil
}

// keepServing keeps --board's page up after the work is done, until Ctrl-C (ctx). A
// run stopped by Ctrl-C stops the board with it.
func (b boardFlags) keepServing(ctx context.Context, stdout io.Writer) {
	if *b.on && ctx.Err() == nil {
		fmt.Fprintln(stdout, "board: still serving; Ctrl-C stops it")
		<-ctx.Done()
	}
}
