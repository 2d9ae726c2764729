// Package board is `fcn board`: a web page that watches the run folders under one folder
// while they train — their status, live curves of several runs overlaid, the latest
// evaluation's per-class IoU and confusion matrix, the prediction overlays of every
// evaluation, the resolved config, and `fcn compare` reports.
//
// It only reads. Every file it serves is opened through an os.Root over the folder, which
// refuses paths with "..", absolute paths and symlinks that lead out of it; only GET and
// HEAD are answered. The page and its chart library (uPlot, vendored from npm with its
// licence) are embedded in the binary: it works offline.
package board

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net"
	"net/http"
	"os"
	"path"
	"strconv"
	"strings"
	"time"
)

//go:embed assets
var assets embed.FS

// Server serves the board of the run folders under one folder.
type Server struct {
	root  *os.Root
	fsys  fs.FS
	dir   string
	cache *cache
	now   func() time.Time
	// loopback makes the server refuse requests whose Host is not a loopback name, so a
	// web page elsewhere cannot reach it through DNS rebinding.
	loopback bool
}

// New returns a board over dir (which must exist).
func New(dir string) (*Server, error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("board: runs folder: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("board: %s is not a folder", dir)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("board: %w", err)
	}
	return &Server{root: root, fsys: root.FS(), dir: dir, cache: newCache(), now: time.Now}, nil
}

// Close releases the folder.
func (s *Server) Close() error { return s.root.Close() }

// ServeHTTP answers GET and HEAD: the page (/), its assets (/assets/…), the JSON API
// (/api/…) and files of the run folders (/files/PATH).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'")
	h.Set("Referrer-Policy", "no-referrer")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		http.Error(w, "the board is read-only: only GET and HEAD", http.StatusMethodNotAllowed)
		return
	}
	if s.loopback && !loopbackHost(r.Host) {
		http.Error(w, "this board answers only to localhost", http.StatusForbidden)
		return
	}
	p := r.URL.Path
	switch {
	case p == "/" || p == "/index.html":
		s.asset(w, r, "index.html")
	case strings.HasPrefix(p, "/assets/"):
		s.asset(w, r, strings.TrimPrefix(p, "/assets/"))
	case p == "/api/runs":
		s.apiRuns(w, r)
	case p == "/api/run":
		s.apiRun(w, r)
	case p == "/api/eval":
		s.apiEval(w, r)
	case p == "/api/study":
		s.apiStudy(w, r)
	case strings.HasPrefix(p, "/files/"):
		s.file(w, r, strings.TrimPrefix(p, "/files/"))
	default:
		http.NotFound(w, r)
	}
}

func loopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (s *Server) asset(w http.ResponseWriter, r *http.Request, name string) {
	if !fs.ValidPath(name) {
		http.NotFound(w, r)
		return
	}
	b, err := assets.ReadFile(path.Join("assets", name))
	if err != nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", contentType(name))
	w.Header().Set("Cache-Control", "no-cache")
	w.Write(b)
}

// contentType is the type of a served file by its extension; anything unknown is
// served as plain text, never as HTML, so a run folder cannot inject a page.
func contentType(name string) string {
	switch ext := strings.ToLower(path.Ext(name)); ext {
	case ".html":
		return "text/html; charset=utf-8"
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".png", ".jpg", ".jpeg", ".svg", ".json":
		if ext == ".svg" {
			return "text/plain; charset=utf-8" // an SVG may carry script
		}
		return mime.TypeByExtension(ext)
	}
	return "text/plain; charset=utf-8"
}

// relPath checks a path inside the runs folder given by a client: slash-separated,
// relative, no "." or ".." elements (os.Root checks again, symlinks included).
func relPath(p string) (string, bool) {
	if p == "" || p == "." {
		return ".", true
	}
	return p, fs.ValidPath(p) && !strings.Contains(p, "\\")
}

// file serves a regular file of the runs folder.
func (s *Server) file(w http.ResponseWriter, r *http.Request, p string) {
	rel, ok := relPath(p)
	if !ok || rel == "." {
		http.Error(w, "bad path", http.StatusBadRequest)
		return
	}
	f, err := s.root.Open(rel)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", contentType(rel))
	w.Header().Set("Cache-Control", "no-cache")
	http.ServeContent(w, r, "", fi.ModTime(), f)
}

// writeJSON answers v as JSON with an ETag, or 304 when the client has it already.
func writeJSON(w http.ResponseWriter, r *http.Request, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	writeReply(w, r, reply{body: b, etag: `"` + strconv.FormatUint(fnv64(b), 36) + `"`})
}

// reply is a JSON answer and its ETag, kept to answer again while nothing changed.
type reply struct {
	body []byte
	etag string
}

func writeReply(w http.ResponseWriter, r *http.Request, rep reply) {
	w.Header().Set("ETag", rep.etag)
	w.Header().Set("Cache-Control", "no-cache")
	if r.Header.Get("If-None-Match") == rep.etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(rep.body)
}

func newReply(v any) (reply, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return reply{}, err
	}
	return reply{body: b, etag: `"` + strconv.FormatUint(fnv64(b), 36) + `"`}, nil
}

func fnv64(b []byte) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range b {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return h
}

// Listen binds addr for Serve; a port in use is an error naming it.
func Listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		if errors.Is(err, errAddrInUse) || strings.Contains(err.Error(), "address already in use") {
			return nil, fmt.Errorf("board: %s is already in use (another fcn board or TensorBoard?): choose another with --addr", addr)
		}
		return nil, fmt.Errorf("board: listen on %s: %w", addr, err)
	}
	return ln, nil
}

// Serve serves the board of dir on ln until ctx is done. It prints the URL to out.
func Serve(ctx context.Context, ln net.Listener, dir string, out io.Writer) error {
	s, err := New(dir)
	if err != nil {
		ln.Close()
		return err
	}
	defer s.Close()
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	ip := net.ParseIP(host)
	s.loopback = ip != nil && ip.IsLoopback()
	shown := host
	if ip != nil && ip.IsUnspecified() {
		shown = "localhost"
	}
	fmt.Fprintf(out, "board: http://%s/ (runs under %s; Ctrl-C stops it)\n", net.JoinHostPort(shown, port), dir)
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
		return nil
	case err := <-done:
		return err
	}
}
