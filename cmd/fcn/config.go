package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/fcn-dev/fcn/configs"
)

const configListUsage = `usage: fcn config list

Lists the experiments (and studies) shipped in the binary, each with the first line of its
description.
`

const configShowUsage = `usage: fcn config show NAME [--resolved] [--set key=value]...

Prints a shipped experiment or study as it is written, comments included, to copy and
edit:  fcn config show default > my.yaml  then  fcn train --config my.yaml
With --resolved, prints the experiment with every default and override filled in, as a run
folder's config.yaml holds it.

flags:
`

// runConfigList is `fcn config list`.
func runConfigList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("fcn config list", configListUsage, stderr)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	names := append(configs.Names(), configs.StudyNames()...)
	for _, n := range names {
		b, err := configs.ReadShipped(n)
		if err != nil {
			return err
		}
		kind := "experiment"
		if strings.HasPrefix(n, "study-") {
			kind = "study (fcn compare)"
		}
		fmt.Fprintf(stdout, "%-16s %-20s %s\n", n, kind, firstComment(string(b)))
	}
	fmt.Fprintln(stdout, "\nfcn config show NAME prints one; fcn train --config NAME trains it.")
	return nil
}

// firstComment is the text of a file's first comment line ("" if none).
func firstComment(text string) string {
	for _, l := range strings.Split(text, "\n") {
		l = strings.TrimSpace(l)
		if c, ok := strings.CutPrefix(l, "#"); ok && strings.TrimSpace(c) != "" {
			return strings.TrimSpace(c)
		}
		if l != "" && !strings.HasPrefix(l, "#") {
			break
		}
	}
	return ""
}

// runConfigShow is `fcn config show`.
func runConfigShow(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("fcn config show", configShowUsage, stderr)
	resolved := fs.Bool("resolved", false, "print the experiment with every default and override filled in")
	var sets expSetFlag
	fs.Var(&sets, "set", "with --resolved: override a key, e.g. --set train.steps=100 (repeatable)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return errors.New("give one shipped name (fcn config list shows them)")
	}
	if len(sets) > 0 && !*resolved {
		return errors.New("--set changes the resolved experiment: give --resolved too")
	}
	if !*resolved {
		b, err := configs.ReadShipped(pos[0])
		if err != nil {
			return err
		}
		_, err = stdout.Write(b)
		return err
	}
	exp, err := configs.Load(pos[0], sets, os.Environ())
	if err != nil {
		return err
	}
	b, err := exp.YAML()
	if err != nil {
		return err
	}
	_, err = stdout.Write(b)
	return err
}
