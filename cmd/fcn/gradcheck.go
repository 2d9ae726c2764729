package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"regexp"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/fcn-dev/fcn/autodiff"
)

const gradcheckUsage = `usage: fcn gradcheck [--json] [--run REGEXP] [--list]

Checks every layer's backward pass (and a whole small FCN's) against central finite
differences in float64: one row per tensor compared, passing when its max relative
error is below %g. Exits non-zero if any fails.

`

// runGradcheck is `fcn gradcheck`: the gradient-check suite of autodiff.GradSuite.
func runGradcheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("fcn gradcheck", fmt.Sprintf(gradcheckUsage, autodiff.SuiteTol), stderr)
	asJSON := fs.Bool("json", false, "print a JSON array of results instead of the table")
	run := fs.String("run", "", "run only the cases whose `layer/case` matches this regular expression")
	list := fs.Bool("list", false, "list the cases (layer/case) and exit")
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (cases are chosen with --run)", fs.Arg(0))
	}
	cases, err := selectCases(autodiff.GradSuite(), *run)
	if err != nil {
		return err
	}
	if *list {
		for _, c := range cases {
			fmt.Fprintln(stdout, c.ID())
		}
		return nil
	}
	start := time.Now()
	res, err := autodiff.RunCases(ctx, cases)
	if err != nil {
		return err
	}
	return reportGradcheck(res, len(cases), time.Since(start), *asJSON, stdout, stderr)
}

// selectCases keeps the cases whose ID matches expr (all of them for "").
func selectCases(all []autodiff.SuiteCase, expr string) ([]autodiff.SuiteCase, error) {
	if expr == "" {
		return all, nil
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		return nil, fmt.Errorf("--run: %w", err)
	}
	var cases []autodiff.SuiteCase
	for _, c := range all {
		if re.MatchString(c.ID()) {
			cases = append(cases, c)
		}
	}
	if len(cases) == 0 {
		return nil, fmt.Errorf("--run %q matches no case (fcn gradcheck --list shows them)", expr)
	}
	return cases, nil
}

// reportGradcheck prints the results — a table and a summary line, or a JSON array on
// stdout with the summary on stderr — and returns an error if any tensor failed.
func reportGradcheck(res []autodiff.SuiteResult, nCases int, took time.Duration, asJSON bool, stdout, stderr io.Writer) error {
	failed, worst := 0, 0.0
	for _, r := range res {
		if !r.Passed {
			failed++
		}
		if math.IsNaN(r.MaxRelErr) || (!math.IsNaN(worst) && r.MaxRelErr > worst) {
			worst = r.MaxRelErr
		}
	}
	summary := fmt.Sprintf("%d tensors in %d cases: %d passed, %d failed; worst max rel err %.2e (tolerance %g); %s",
		len(res), nCases, len(res)-failed, failed, worst, autodiff.SuiteTol, took.Round(time.Millisecond))
	if asJSON {
		if res == nil {
			res = []autodiff.SuiteResult{} // [] rather than null
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			return err
		}
		fmt.Fprintln(stderr, summary)
	} else {
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "LAYER\tCASE\tTENSOR\tN\tEPS\tMAX REL ERR\tOK")
		for _, r := range res {
			ok := "ok"
			if !r.Passed {
				ok = "FAIL"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%g\t%.2e\t%s\n", r.Layer, r.Case, r.Tensor, r.N, r.Eps, r.MaxRelErr, ok)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintln(stdout, summary)
	}
	if failed > 0 {
		var names []string
		for _, r := range res {
			if !r.Passed {
				names = append(names, r.Layer+"/"+r.Case+" "+r.Tensor)
			}
		}
		if len(names) > 5 {
			names = append(names[:5], "…")
		}
		return fmt.Errorf("%d of %d tensors failed the gradient check: %s", failed, len(res), strings.Join(names, ", "))
	}
	return nil
}
