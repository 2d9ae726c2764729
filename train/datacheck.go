package train

import (
	"context"
	"fmt"
	"io"

	"github.com/fcn-dev/fcn/configs"
	fcndata "github.com/fcn-dev/fcn/data"
)

// mostlyIgnored is the share of ignore-label pixels above which a split gets a warning.
const mostlyIgnored = 0.9

// checkLabelled counts the labelled pixels of a split's masks before training: a
// training split with none is refused (every loss would be 0/0: nothing to learn), and a
// split that is mostly the ignore label, or an eval split with no labelled pixel (its
// metrics would be undefined), gets a warning on out.
func checkLabelled(ctx context.Context, exp *configs.Experiment, ds fcndata.Dataset, split string, training bool, out io.Writer) error {
	st, ok, err := fcndata.CountLabels(ctx, ds, exp.Train.Workers)
	if err != nil {
		return fmt.Errorf("checking the masks of split %q: %w", split, err)
	}
	if !ok {
		return nil
	}
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
