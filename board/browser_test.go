package board_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/fcn-dev/fcn/board"
	"github.com/fcn-dev/fcn/configs"
	"github.com/fcn-dev/fcn/train"
)

// browserYAML trains fast on small images and evaluates often, so the page has curves,
// a per-class table and overlays within a second or two.
const browserYAML = `
name: browser
data:
  format: synthetic
  synthetic: {n_train: 32, n_val: 8, size: 32, seed: 5}
model:
  classes: 3
  layers:
    - {name: conv1, type: conv, out: 8, kernel: 3, pad: 1}
    - {name: relu1, type: relu}
    - {name: pool1, type: maxpool, kernel: 2, stride: 2}
    - {name: conv2, type: conv, out: 8, kernel: 3, pad: 1}
    - {name: relu2, type: relu}
    - {name: score, type: conv, out: classes, kernel: 1}
    - {name: up, type: deconv, out: classes, kernel: 4, stride: 2, pad: 1, bias: false, init: bilinear}
train: {steps: 100000, batch_size: 4, seed: 1, workers: 1}
optim: {lr: 0.02, momentum: 0.9}
eval: {every: 20}
checkpoint: {every: 0}
`

func findChromium() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// TestBrowser drives headless Chromium over the board while a real training runs beside
// a finished one: the loss curve must gain points while the run trains, and the per-class
// IoU table and an overlay image must render. It saves a screenshot (to
// $FCN_BOARD_SCREENSHOT when set, which is how docs/board.png is made).
func TestBrowser(t *testing.T) {
	chrome := findChromium()
	if chrome == "" {
		t.Skip("no Chromium found: install Debian's chromium (apt-get install chromium) to run the browser test")
	}
	if testing.Short() {
		t.Skip("-short: the browser test starts Chromium and a training")
	}
	runs := t.TempDir()
	exp := func(steps int, sets ...string) *configs.Experiment {
		e, err := configs.Parse("browser.yaml", "browser", []byte(browserYAML), append([]string{"train.steps=" + strconv.Itoa(steps)}, sets...), nil)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	// A finished run to overlay the live one on: frozen against learned upsampling.
	if _, err := train.Run(context.Background(), exp(1000, "model.upsample=frozen"), train.Options{OutDir: filepath.Join(runs, "frozen"), Progress: train.ProgressOff}); err != nil {
		t.Fatal(err)
	}
	trainCtx, stopTraining := context.WithCancel(context.Background())
	trained := make(chan error, 1)
	go func() {
		_, err := train.Run(trainCtx, exp(100000, "model.upsample=learned"), train.Options{OutDir: filepath.Join(runs, "learned"), Progress: train.ProgressOff})
		trained <- err
	}()
	defer func() {
		stopTraining()
		if err := <-trained; err != nil {
			t.Errorf("training: %v", err)
		}
	}()

	srv, err := board.New(runs)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ts := httptest.NewServer(srv)
	defer ts.Close()

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chrome),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(1500, 1250),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancelTab := chromedp.NewContext(actx)
	defer cancelTab()
	// A hung browser must not hang the test: the tab goes after two minutes at most.
	defer time.AfterFunc(2*time.Minute, cancelTab).Stop()

	if err := chromedp.Do(ctx, chromedp.Navigate(ts.URL+"/"), chromedp.WaitVisible(chromedp.CSS("#chart-loss"))); err != nil {
		t.Fatalf("opening the board: %v", err)
	}
	evalInt := func(js string) int {
		c, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		n, err := chromedp.Run(c, chromedp.Evaluate[int](js))
		if err != nil {
			return -1
		}
		return n
	}
	points := func() int { return evalInt(`Number(document.querySelector("#chart-loss").dataset.points || 0)`) }
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	waitFor("the learned run in the list", func() bool {
		return evalInt(`document.querySelectorAll('#runs tr[data-run="learned"]').length`) == 1
	})
	// Focus the live run, then wait until the curves have points and then more of them:
	// the page follows the training as it writes metrics.jsonl.
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#runs tr[data-run="learned"] .name`))); err != nil {
		t.Fatal(err)
	}
	first := 0
	waitFor("loss points", func() bool { first = points(); return first > 0 })
	waitFor("the loss curve to grow while training runs", func() bool { return points() > first })
	select {
	case err := <-trained:
		t.Fatalf("the training ended while the page was watched: %v", err)
	default:
	}
	waitFor("the per-class IoU table", func() bool {
		return evalInt(`document.querySelectorAll("#iou-table tr.class-row").length`) == 3
	})
	waitFor("an overlay image", func() bool {
		return evalInt(`(() => { const i = document.querySelector("#overlays img"); return i && i.complete ? i.naturalWidth : 0; })()`) >= 128 // 32 pixels drawn 4 times larger, with a legend
	})
	// Both runs' curves are drawn: the finished frozen run and the live learned one.
	if n := evalInt(`window.fcnBoard.charts.loss.plot.series.length - 1`); n != 2 {
		t.Errorf("loss chart series: %d, want 2 runs overlaid", n)
	}

	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // quality 100: PNG
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	out := filepath.Join(t.TempDir(), "board.png")
	if p := os.Getenv("FCN_BOARD_SCREENSHOT"); p != "" {
		out = p
	}
	if err := os.WriteFile(out, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes); %d loss points", out, len(shot), points())
	if len(shot) < 10000 {
		t.Errorf("screenshot of %d bytes: blank page?", len(shot))
	}
	stopTraining()
	if err := <-trained; err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("training: %v", err)
	}
	trained <- nil
}
