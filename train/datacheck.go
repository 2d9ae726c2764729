package train

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"time"

	"github.com/fcn-dev/fcn/configs"
	fcndata "github.com/fcn-dev/fcn/data"
	"github.com/schollz/progressbar/v3"
)

// mostlyIgnored is the share of ignore-label pixels above which a split gets a warning.
const mostlyIgnored = 0.9

// maxListedProblems is how many data problems a refusal lists; `fcn data check` lists all.
const maxListedProblems = 10

// splitUse is a split the run reads, and whether it trains on it.
type splitUse struct {
	name      string
	ds        fcndata.Dataset
	training  bool
	evaluated bool // scored whole, image by image, at each evaluation
}

// preflight checks the data of every split the run will use before step 1, so that a
// bad file fails the run in seconds rather than at the step (or the evaluation) that
// first reads it: each image's size from its header, each mask decoded, its size and its
// labels checked, in parallel with a progress bar; then that the masks hold labelled
// pixels and that the model takes every image size the run will feed it. Notices (such
// as a crop larger than the images) are returned for the run's log. skip (the
// --skip-data-check flag) leaves all this to the loader, for sets too large to scan.
func preflight(ctx context.Context, exp *configs.Experiment, splits []splitUse, fit *sizeFitter, skip bool, maxMemory int64, mode ProgressMode, out io.Writer) (notes []string, err error) {
	if skip {
		return []string{"data check skipped (--skip-data-check): a bad image or mask stops training when it is reached (a checkpoint of the steps before it is kept)"}, nil
	}
	total := 0
	for _, s := range splits {
		total += s.ds.Len()
	}
	start := time.Now()
	var bar *progressbar.ProgressBar
	if resolveProgress(out, mode) == ProgressBar {
		bar = progressbar.NewOptions(total, progressbar.OptionSetWriter(out), progressbar.OptionSetWidth(24),
			progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionShowCount(),
			progressbar.OptionSetDescription("checking data"), progressbar.OptionClearOnFinish())
	}
	var done atomic.Int64
	tick := func() {
		done.Add(1)
		if bar != nil {
			bar.Add(1)
		}
	}
	scans := make([]fcndata.SplitScan, len(splits))
	scanned := make([]bool, len(splits))
	for i, s := range splits {
		if scans[i], scanned[i], err = fcndata.Scan(ctx, s.ds, exp.Train.Workers, tick); err != nil {
			return nil, fmt.Errorf("checking the data of split %q: %w", s.name, err)
		}
	}
	if bar != nil {
		bar.Finish()
	}
	for i, s := range splits {
		if !scanned[i] {
			continue
		}
		if err := refuseProblems(exp, s.name, scans[i]); err != nil {
			return nil, err
		}
		if err := checkLabelled(exp, scans[i].Labels, s.name, s.training, out); err != nil {
			return nil, err
		}
		if err := checkSizes(exp, fit, s, scans[i], maxMemory); err != nil {
			return nil, err
		}
		if s.training {
			if n := cropNotice(exp, s.name, scans[i].Sizes); n != "" {
				notes = append(notes, n)
			}
		}
	}
	if exp.Data.Format == fcndata.FormatSynthetic {
		sz := exp.Data.Synthetic.Size
		if n := cropNotice(exp, exp.Data.TrainSplit, []fcndata.SizeCount{{Size: fcndata.Size{H: sz, W: sz}, Count: 1}}); n != "" {
			notes = append(notes, n)
		}
	}
	if n := done.Load(); n > 0 {
		parts := make([]string, 0, len(splits))
		for i, s := range splits {
			if scanned[i] {
				parts = append(parts, fmt.Sprintf("%d of split %q", s.ds.Len(), s.name))
				if len(parts) == 1 {
					parts[0] = fmt.Sprintf("%d images and masks of split %q", s.ds.Len(), s.name)
				}
			}
		}
		notes = append(notes, fmt.Sprintf("data checked in %s: %s, no problem", time.Since(start).Round(10*time.Millisecond), strings.Join(parts, " and ")))
	}
	return notes, nil
}

// resolveProgress is mode with ProgressAuto decided against w (see newProgress).
func resolveProgress(w io.Writer, mode ProgressMode) ProgressMode {
	if mode != ProgressAuto {
		return mode
	}
	if isTerminal(w) {
		return ProgressBar
	}
	return ProgressPlain
}

// refuseProblems fails the run on any problem the scan found, listing the first few.
func refuseProblems(exp *configs.Experiment, split string, sc fcndata.SplitScan) error {
	if len(sc.Problems) == 0 {
		return nil
	}
	var b strings.Builder
	noun := "problems"
	if len(sc.Problems) == 1 {
		noun = "problem"
	}
	fmt.Fprintf(&b, "data: split %q of %s has %d %s (nothing was trained):", split, exp.Data.Root, len(sc.Problems), noun)
	for i, p := range sc.Problems {
		if i == maxListedProblems {
			fmt.Fprintf(&b, "\n  … and %d more: `fcn data check --config %s` lists them all", len(sc.Problems)-i, exp.Source)
			break
		}
		fmt.Fprintf(&b, "\n  %s", p)
	}
	return fmt.Errorf("%s", b.String())
}

// checkLabelled refuses a training split whose masks hold no labelled pixel (every loss
// would be 0/0: nothing to learn) and warns on out for a split that is mostly the ignore
// label, or an eval split with no labelled pixel (its metrics would be undefined).
func checkLabelled(exp *configs.Experiment, st fcndata.LabelStats, split string, training bool, out io.Writer) error {
	where := fmt.Sprintf("split %q of %s (%d masks)", split, exp.Data.Root, st.Masks)
	if st.Labelled == 0 {
		msg := fmt.Sprintf("no mask of %s has a labelled pixel: %d pixels are the ignore label %d and %d hold other values",
			where, st.Ignored, exp.Data.IgnoreLabel, st.Malformed)
		if training {
			return fmt.Errorf("data: %s; there is nothing to learn (check data.ignore_label, data.classes and the masks)", msg)
		}
		fmt.Fprintf(out, "warning: %s; its metrics will be undefined (null)\n", msg)
		return nil
	}
	if share := float64(st.Ignored) / float64(st.Ignored+st.Labelled+st.Malformed); share > mostlyIgnored {
		fmt.Fprintf(out, "warning: %s is %.1f%% ignore-label pixels (label %d): is data.ignore_label right?\n", where, 100*share, exp.Data.IgnoreLabel)
	}
	return nil
}

// checkSizes refuses image sizes the model cannot take, or that evaluation has not the
// memory for: an evaluated split's images are scored whole, at their own size; a
// training split's are fed whole too unless a crop sets the size (images smaller than
// the crop are padded to it).
func checkSizes(exp *configs.Experiment, fit *sizeFitter, s splitUse, sc fcndata.SplitScan, maxMemory int64) error {
	if s.training && exp.Data.Transforms.Crop > 0 && !s.evaluated {
		return nil
	}
	for _, sz := range sc.Sizes {
		h, w := sz.H, sz.W
		if s.training && !s.evaluated {
			if m := exp.Data.Transforms.ScaleMin; m > 0 && m < 1 {
				h, w = max(1, int(float64(h)*m+0.5)), max(1, int(float64(w)*m+0.5))
			}
		}
		if _, _, err := fit.fit(h, w); err != nil {
			more := ""
			if sz.Count > 1 {
				more = fmt.Sprintf(" (and %d more of that size)", sz.Count-1)
			}
			return fmt.Errorf("%s: split %q: image %s%s: %w", exp.Source, s.name, sz.First, more, err)
		}
	}
	if !s.evaluated || len(sc.Sizes) == 0 {
		return nil
	}
	big := sc.Largest()
	h, w, err := fit.fit(big.H, big.W)
	if err != nil {
		return err
	}
	n := EvalBatchSize(exp)
	est, err := EstimateInference(exp, n, h, w)
	if err != nil {
		return fmt.Errorf("%s: model (for %d×3×%d×%d inputs): %w", exp.Source, n, h, w, err)
	}
	return CheckMemory(fmt.Sprintf("%s: evaluating split %q, whose largest image is %d×%d, with %s", exp.Source, s.name, big.H, big.W, exp.Name),
		est.Total, maxMemory, est.Detail(), "scale the largest images down")
}

// cropNotice says, once, how much of each training crop is padding when the crop is
// larger than the images (padding costs time and teaches nothing), or "" when no image
// is smaller than the crop. The figure is at scale 1.
func cropNotice(exp *configs.Experiment, split string, sizes []fcndata.SizeCount) string {
	c := exp.Data.Transforms.Crop
	if c <= 0 {
		return ""
	}
	var n, smaller int
	var padding float64
	minH, minW := 0, 0
	for _, sz := range sizes {
		n += sz.Count
		if sz.H >= c && sz.W >= c {
			continue
		}
		smaller += sz.Count
		padding += float64(sz.Count) * (1 - float64(min(sz.H, c)*min(sz.W, c))/float64(c*c))
		if minH == 0 || sz.H*sz.W < minH*minW {
			minH, minW = sz.H, sz.W
		}
	}
	if smaller == 0 {
		return ""
	}
	return fmt.Sprintf("note: data.transforms.crop %d is larger than %d of the %d images of split %q (the smallest is %d×%d): on average %.0f%% of a crop is padding (ignore label), which costs time and teaches nothing; a crop of at most %d avoids it",
		c, smaller, n, split, minH, minW, 100*padding/float64(n), smallestSide(sizes))
}

// smallestSide is the shortest image side among sizes.
func smallestSide(sizes []fcndata.SizeCount) int {
	s := 0
	for _, sz := range sizes {
		if m := min(sz.H, sz.W); s == 0 || m < s {
			s = m
		}
	}
	return s
}
