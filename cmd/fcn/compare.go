package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fcn-dev/fcn/study"
)

const compareUsage = `usage: fcn compare [--config STUDY] [--set key=value]... [--out DIR] [--tensorboard] [--board]

Train every variant of a study (a base experiment and named sets of overrides) on the same
data, seeds and step budget, one after the other, then write a report into the study
folder (default runs/<study>-<time>): report.md (scores, per-class IoU, paired differences
of mIoU between variants with 95% t-intervals over the seeds, kernel drift, checkerboard
scores), metrics.csv, loss.png, miou.png, predictions.png and kernels.png. The paired
differences are printed too; an interval needs at least 2 seeds (seeds: in the study).

--config names a shipped study (study-upsampling, the default) or a study YAML file.
--set overrides the base experiment of every variant, e.g. --set data.format=voc
--set data.root=DIR --set model.classes=21 to run the study on your own data.

Run it again with the same --out to continue an interrupted study: finished variants are
not trained again, an unfinished one continues from its last checkpoint.

flags:
`

// runCompare is `fcn compare`: the shipped study of FCN's upsampling layers (learned,
// frozen, random, resize_conv and bilinear) and studies like it.
func runCompare(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("fcn compare", compareUsage, stderr)
	config := fs.String("config", "study-upsampling", "shipped study name or study YAML file")
	var sets expSetFlag
	fs.Var(&sets, "set", "key=value override of the base experiment (repeatable)")
	out := fs.String("out", "", "study folder (default runs/<study>-<time>); an existing one is continued")
	progress := fs.String("progress", "plain", "training progress: auto, bar, plain or off")
	gridImages := fs.Int("images", 4, "val images in the prediction grid")
	tensorboard := fs.Bool("tensorboard", false, "write TensorBoard event files in every run folder (log.tensorboard=true)")
	boardOpts := addBoardFlags(fs, "the study folder's parent")
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	if *tensorboard {
		sets = append(sets, "log.tensorboard=true")
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (see fcn compare -h)", fs.Arg(0))
	}
	mode, err := progressMode(*progress) // shared with fcn train
	if err != nil {
		return err
	}
	if *gridImages < 1 {
		return fmt.Errorf("--images: want at least 1, got %d", *gridImages)
	}
	s, err := study.Load(*config)
	if err != nil {
		return err
	}
	dir := *out
	if dir == "" {
		dir = filepath.Join("runs", s.Name+"-"+time.Now().Format("20060102-150405"))
	}
	boardCtx, stopBoard := context.WithCancel(ctx)
	defer stopBoard()
	waitBoard, err := boardOpts.start(boardCtx, dir, stdout)
	if err != nil {
		return err
	}
	defer waitBoard()
	defer stopBoard()
	res, err := s.Run(ctx, study.Options{
		Out: dir, Sets: sets, Env: os.Environ(), Log: stderr, Progress: mode, GridImages: *gridImages,
	})
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("interrupted; continue with: fcn compare --config %s%s --out %s", *config, compareSetArgs(sets), dir)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "study %s: %d run(s) trained, %d already done; report in %s\n", s.Name, len(res.Trained), len(res.Skipped), filepath.Join(dir, study.ReportMarkdown))
	for _, f := range res.Report.Files {
		fmt.Fprintf(stdout, "  %s\n", filepath.Join(dir, f))
	}
	if diffs := res.Report.PairedDiffs(); len(diffs) > 0 {
		fmt.Fprintf(stdout, "paired differences of the final mIoU, seed by seed (%.0f%% t-intervals):\n", 100*study.PairedLevel)
		for _, d := range diffs {
			fmt.Fprintf(stdout, "  %s\n", d)
		}
	}
	boardOpts.keepServing(ctx, stdout)
	return nil
}

func compareSetArgs(sets []string) string {
	var b strings.Builder
	for _, s := range sets {
		fmt.Fprintf(&b, " --set %s", s)
	}
	return b.String()
}
