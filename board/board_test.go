package board

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeRun makes a run folder under dir with n train lines and the status given.
func writeRun(t testing.TB, dir, name string, n int, state string) string {
	t.Helper()
	run := filepath.Join(dir, name)
	if err := os.MkdirAll(run, 0o755); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, `{"step":%d,"loss":%g,"lr":0.01}`+"\n", i, 1/float64(i))
	}
	must(t, os.WriteFile(filepath.Join(run, metricsFile), []byte(b.String()), 0o644))
	st := fmt.Sprintf(`{"state":%q,"experiment":"tiny","step":%d,"total":100,"eta_seconds":12,"images_per_second":3.5,"updated":%q,"pid":%d}`,
		state, n, time.Now().UTC().Format(time.RFC3339), os.Getpid())
	must(t, os.WriteFile(filepath.Join(run, statusFile), []byte(st), 0o644))
	must(t, os.WriteFile(filepath.Join(run, configFile), []byte("name: tiny\n"), 0o644))
	return run
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func newTestServer(t *testing.T, dir string) (*Server, *httptest.Server) {
	t.Helper()
	s, err := New(dir)
	if err != nil {
		t.Fatal(err)
	}
	s.loopback = true
	ts := httptest.NewServer(s)
	t.Cleanup(func() { ts.Close(); s.Close() })
	return s, ts
}

func get(t *testing.T, u string) (int, string) {
	t.Helper()
	r, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	return r.StatusCode, string(b)
}

// rawGet sends a request line as given, unnormalised by any client, and returns the
// status code and body.
func rawGet(t *testing.T, addr, target string) (int, string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", target)
	r, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("%s: %v", target, err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	return r.StatusCode, string(b)
}

// TestTraversalRefused: no request reaches a file outside the runs folder, however the
// path is spelled, and a symlink out of the folder is not followed.
func TestTraversalRefused(t *testing.T) {
	outside := t.TempDir()
	secret := filepath.Join(outside, "secret.txt")
	must(t, os.WriteFile(secret, []byte("TOP-SECRET"), 0o644))
	dir := t.TempDir()
	run := writeRun(t, dir, "a", 3, "running")
	must(t, os.Symlink(secret, filepath.Join(run, "link.txt")))
	must(t, os.Symlink(outside, filepath.Join(dir, "linkdir")))
	_, ts := newTestServer(t, dir)
	addr := strings.TrimPrefix(ts.URL, "http://")

	rel, _ := filepath.Rel(dir, secret)
	rel = filepath.ToSlash(rel)
	targets := []string{
		"/files/" + rel,
		"/files/../../etc/passwd",
		"/../../etc/passwd",
		"/files/%2e%2e/%2e%2e/etc/passwd",
		"/files/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd",
		"/files/..%2f..%2fetc%2fpasswd",
		"/files/%252e%252e%252fetc%252fpasswd",
		"/files//etc/passwd",
		"/files/" + url.PathEscape(secret),
		"/files/a/link.txt",
		"/files/linkdir/secret.txt",
		"/files/a/..%5c..%5cetc%5cpasswd",
		"/api/run?run=../" + filepath.Base(outside),
		"/api/run?run=%2e%2e%2f%2e%2e",
		"/api/eval?run=" + url.QueryEscape(outside),
		"/api/study?dir=..",
		"/assets/../board.go",
		"/assets/%2e%2e/board.go",
	}
	for _, target := range targets {
		code, body := rawGet(t, addr, target)
		if code < 400 || code >= 500 {
			t.Errorf("GET %s: %d, want a 4xx refusal", target, code)
		}
		for _, leak := range []string{"TOP-SECRET", "root:", "package board"} {
			if strings.Contains(body, leak) {
				t.Errorf("GET %s: the body holds %q", target, leak)
			}
		}
	}
	// A file inside is served.
	if code, body := get(t, ts.URL+"/files/a/"+configFile); code != 200 || !strings.Contains(body, "name: tiny") {
		t.Errorf("inside file: %d %q", code, body)
	}
}

func TestReadOnlyAndHost(t *testing.T) {
	dir := t.TempDir()
	writeRun(t, dir, "a", 3, "running")
	_, ts := newTestServer(t, dir)
	for _, m := range []string{"POST", "PUT", "DELETE", "PATCH", "OPTIONS"} {
		req, _ := http.NewRequest(m, ts.URL+"/files/a/"+metricsFile, strings.NewReader("x"))
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if r.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("%s: %d, want 405", m, r.StatusCode)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "a", metricsFile)); strings.Count(string(b), "\n") != 3 {
		t.Error("metrics.jsonl changed")
	}
	req, _ := http.NewRequest("GET", ts.URL+"/api/runs", nil)
	req.Host = "evil.example:6006"
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusForbidden {
		t.Errorf("foreign Host: %d, want 403", r.StatusCode)
	}
	req, _ = http.NewRequest("HEAD", ts.URL+"/", nil)
	if r, err := http.DefaultClient.Do(req); err != nil || r.StatusCode != 200 {
		t.Errorf("HEAD /: %v %v", r, err)
	}
}

type runsReply struct {
	Runs []RunInfo `json:"runs"`
}

func listRuns(t *testing.T, s *Server, ts *httptest.Server) []RunInfo {
	t.Helper()
	s.cache.mu.Lock()
	s.cache.scanned = time.Time{} // rescan now
	s.cache.mu.Unlock()
	code, body := get(t, ts.URL+"/api/runs")
	if code != 200 {
		t.Fatalf("/api/runs: %d %s", code, body)
	}
	var r runsReply
	must(t, json.Unmarshal([]byte(body), &r))
	return r.Runs
}

type runReply struct {
	Info    RunInfo `json:"info"`
	Metrics Metrics `json:"metrics"`
	Evals   []int   `json:"evals"`
}

func getRun(t *testing.T, ts *httptest.Server, name string) runReply {
	t.Helper()
	code, body := get(t, ts.URL+"/api/run?run="+url.QueryEscape(name))
	if code != 200 {
		t.Fatalf("/api/run %s: %d %s", name, code, body)
	}
	var r runReply
	must(t, json.Unmarshal([]byte(body), &r))
	return r
}

// TestMetricsTornAppendRewrite: a half-written last line is skipped until it is whole;
// appends are read incrementally; a rewritten (trimmed on resume) file is read afresh.
func TestMetricsTornAppendRewrite(t *testing.T) {
	dir := t.TempDir()
	run := writeRun(t, dir, "a", 3, "running")
	_, ts := newTestServer(t, dir)
	path := filepath.Join(run, metricsFile)
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	must(t, err)
	_, err = f.WriteString(`{"step":4,"loss":0.2`)
	must(t, err)
	if r := getRun(t, ts, "a"); len(r.Metrics.TrainStep) != 3 {
		t.Fatalf("torn line: %d train points, want 3", len(r.Metrics.TrainStep))
	}
	_, err = f.WriteString(`5,"lr":0.01}` + "\n" + `{"step":4,"split":"val","miou":0.5,"pixel_acc":0.9,"mean_acc":null,"loss":null}` + "\n")
	must(t, err)
	f.Close()
	r := getRun(t, ts, "a")
	if len(r.Metrics.TrainStep) != 4 || *r.Metrics.Loss[3] != 0.25 || len(r.Metrics.EvalStep) != 1 || *r.Metrics.MIoU[0] != 0.5 || r.Metrics.MeanAcc[0] != nil {
		t.Fatalf("after completing the line: %+v", r.Metrics)
	}
	// A resume trims the file back and writes on: the same size, other content.
	must(t, os.WriteFile(path, []byte(`{"step":1,"loss":9,"lr":0.01}`+"\n"+`{"step":2,"loss":8,"lr":0.01}`+"\n"+strings.Repeat(" ", 100)+"\n"), 0o644))
	r = getRun(t, ts, "a")
	if len(r.Metrics.TrainStep) != 2 || *r.Metrics.Loss[0] != 9 {
		t.Fatalf("after a rewrite: %+v", r.Metrics)
	}
}

// TestRunsAppearAndVanish: folders created and deleted while the board watches.
func TestRunsAppearAndVanish(t *testing.T) {
	dir := t.TempDir()
	s, ts := newTestServer(t, dir)
	if runs := listRuns(t, s, ts); len(runs) != 0 {
		t.Fatalf("empty folder: %v", runs)
	}
	writeRun(t, dir, "x/a", 2, "running")
	writeRun(t, dir, "x/b", 2, "failed")
	must(t, os.MkdirAll(filepath.Join(dir, "study1", "runs"), 0o755))
	must(t, os.WriteFile(filepath.Join(dir, "study1", reportFile), []byte("# report\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "study1", reportCSV), []byte("variant,miou\nlearned,0.5\n"), 0o644))
	runs := listRuns(t, s, ts)
	if len(runs) != 3 || runs[0].Kind != "study" || runs[1].Name != "x/a" || runs[1].State != "running" || runs[2].State != "failed" {
		t.Fatalf("runs %+v", runs)
	}
	if code, body := get(t, ts.URL+"/api/study?dir=study1"); code != 200 || !strings.Contains(body, "learned") {
		t.Errorf("study: %d %s", code, body)
	}
	getRun(t, ts, "x/a")
	must(t, os.RemoveAll(filepath.Join(dir, "x", "a")))
	if runs := listRuns(t, s, ts); len(runs) != 2 {
		t.Fatalf("after deleting x/a: %+v", runs)
	}
	if code, _ := get(t, ts.URL+"/api/run?run=x/a"); code != 404 {
		t.Errorf("deleted run: %d, want 404", code)
	}
}

// TestStale: a run whose status says running but whose process is gone and whose status
// is old is shown as stale.
func TestStale(t *testing.T) {
	dir := t.TempDir()
	run := writeRun(t, dir, "a", 2, "running")
	old := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	must(t, os.WriteFile(filepath.Join(run, statusFile), []byte(`{"state":"running","step":2,"total":9,"updated":"`+old+`","pid":2147483000}`), 0o644))
	s, ts := newTestServer(t, dir)
	if runs := listRuns(t, s, ts); runs[0].State != "stale" {
		t.Errorf("state %q, want stale", runs[0].State)
	}
}

// TestManyRuns lists 300 runs, and a second poll is answered 304 from the ETag.
func TestManyRuns(t *testing.T) {
	dir := t.TempDir()
	for i := range 300 {
		writeRun(t, dir, fmt.Sprintf("r%03d", i), 50, "finished")
	}
	s, ts := newTestServer(t, dir)
	if runs := listRuns(t, s, ts); len(runs) != 300 {
		t.Fatalf("%d runs", len(runs))
	}
	r, err := http.Get(ts.URL + "/api/runs")
	must(t, err)
	r.Body.Close()
	req, _ := http.NewRequest("GET", ts.URL+"/api/runs", nil)
	req.Header.Set("If-None-Match", r.Header.Get("ETag"))
	r2, err := http.DefaultClient.Do(req)
	must(t, err)
	r2.Body.Close()
	if r2.StatusCode != http.StatusNotModified {
		t.Errorf("unchanged list: %d, want 304", r2.StatusCode)
	}
}

func TestEvalAPI(t *testing.T) {
	dir := t.TempDir()
	run := writeRun(t, dir, "a", 2, "running")
	for _, step := range []int{10, 20} {
		ed := filepath.Join(run, evalsDir, "step-"+pad7(step))
		must(t, os.MkdirAll(ed, 0o755))
		must(t, os.WriteFile(filepath.Join(ed, confusionFile), []byte(fmt.Sprintf(`{"step":%d,"classes":["a","b"],"matrix":[[1,2],[3,4]],"iou":[0.2,0.5]}`, step)), 0o644))
		must(t, os.WriteFile(filepath.Join(ed, overlaysFile), []byte(`[{"file":"overlay-00.png","id":"img0"},{"file":"../../x.png","id":"bad"}]`), 0o644))
	}
	// A temporary folder being written is not an evaluation yet.
	must(t, os.MkdirAll(filepath.Join(run, evalsDir, ".tmp-step-0000030-1"), 0o755))
	_, ts := newTestServer(t, dir)
	if r := getRun(t, ts, "a"); len(r.Evals) != 2 || r.Evals[1] != 20 {
		t.Errorf("evals %v", r.Evals)
	}
	code, body := get(t, ts.URL+"/api/eval?run=a")
	var ev struct {
		Step      int `json:"step"`
		Confusion struct {
			Matrix [][]int64 `json:"matrix"`
		} `json:"confusion"`
		Overlays []struct{ URL string } `json:"overlays"`
	}
	must(t, json.Unmarshal([]byte(body), &ev))
	if code != 200 || ev.Step != 20 || ev.Confusion.Matrix[1][1] != 4 || len(ev.Overlays) != 1 || ev.Overlays[0].URL != "/files/a/evals/step-0000020/overlay-00.png" {
		t.Errorf("latest eval: %d %s", code, body)
	}
	if code, _ := get(t, ts.URL+"/api/eval?run=a&step=10"); code != 200 {
		t.Errorf("step 10: %d", code)
	}
	if code, _ := get(t, ts.URL+"/api/eval?run=a&step=15"); code != 404 {
		t.Errorf("step 15: %d, want 404", code)
	}
}

func TestListenBusyPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	defer ln.Close()
	_, err = Listen(ln.Addr().String())
	if err == nil || !strings.Contains(err.Error(), ln.Addr().String()) || !strings.Contains(err.Error(), "in use") {
		t.Errorf("busy port: %v", err)
	}
}
