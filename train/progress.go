package train

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// ProgressMode says how training reports progress.
type ProgressMode int

const (
	// ProgressAuto draws a bar when the output is a terminal and prints plain lines
	// otherwise (a log file, a pipe, CI).
	ProgressAuto  ProgressMode = iota
	ProgressBar                // a bar, redrawn in place
	ProgressPlain              // one line every few steps
	ProgressOff                // nothing but evaluation results and notices
)

// progress reports training as it goes. Messages (evaluation results, notices) are
// printed on their own lines in every mode.
type progress struct {
	w           io.Writer
	mode        ProgressMode
	bar         *progressbar.ProgressBar
	total       int
	first       int // the step this session started from
	imgsPerStep int
	every       int           // plain mode: steps between lines
	trainTime   time.Duration // time spent in training steps this session, evaluation excluded
	lastLine    time.Time
	now         func() time.Time
	// rate (images a second) and eta (evaluation left out) as of the last step done.
	rate float64
	eta  time.Duration
}

// newProgress resolves ProgressAuto against w and prepares the display of steps
// first+1 … total.
func newProgress(w io.Writer, mode ProgressMode, first, total, imgsPerStep int) *progress {
	if mode == ProgressAuto {
		mode = ProgressPlain
		if isTerminal(w) {
			mode = ProgressBar
		}
	}
	p := &progress{w: w, mode: mode, total: total, first: first, imgsPerStep: imgsPerStep, now: time.Now}
	p.every = max(1, (total-first)/20)
	p.lastLine = p.now()
	if mode == ProgressBar {
		p.bar = progressbar.NewOptions(total,
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetWidth(24),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(false), // the description has our ETA, which leaves evaluation time out
			progressbar.OptionSetElapsedTime(true),
			progressbar.OptionSetRenderBlankState(true),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }),
		)
		p.bar.Set(first)
	}
	return p
}

// isTerminal says whether w is a terminal (where a bar can be redrawn in place).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// stepDone records step (1-based) as done in d, with its loss and learning rate.
func (p *progress) stepDone(step int, loss, lr float64, d time.Duration) {
	p.trainTime += d
	done := step - p.first
	rate, eta := 0.0, time.Duration(0)
	if done > 0 && p.trainTime > 0 {
		rate = float64(done*p.imgsPerStep) / p.trainTime.Seconds()
		eta = time.Duration(float64(p.trainTime) / float64(done) * float64(p.total-step)).Round(time.Second)
	}
	p.rate, p.eta = rate, eta
	status := fmt.Sprintf("step %d/%d  loss %.4f  lr %.3g  %.1f img/s  ETA %s", step, p.total, loss, lr, rate, eta)
	switch p.mode {
	case ProgressBar:
		p.bar.Describe(status)
		p.bar.Set(step)
	case ProgressPlain:
		now := p.now()
		if step%p.every == 0 || step == p.total || step == p.first+1 || now.Sub(p.lastLine) >= 30*time.Second {
			fmt.Fprintln(p.w, status)
			p.lastLine = now
		}
	}
}

// message prints a line of its own, moving the bar out of the way.
func (p *progress) message(format string, args ...any) {
	if p.bar != nil && !p.bar.IsFinished() {
		p.bar.Clear()
	}
	fmt.Fprintf(p.w, strings.TrimRight(format, "\n")+"\n", args...)
}

// close ends the bar (leaving it drawn) so later output starts on a fresh line.
func (p *progress) close() {
	if p.bar != nil && !p.bar.IsFinished() {
		p.bar.Exit()
		fmt.Fprintln(p.w)
	}
}
