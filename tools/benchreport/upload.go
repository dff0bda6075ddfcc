package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/avatar-pipeline/avatar-pipeline/internal/mirako"
	"github.com/avatar-pipeline/avatar-pipeline/internal/mirako/mirakotest"
)

// uploadSizes are the portrait sizes of the upload figures.
var uploadSizes = []struct {
	label string
	size  int64
}{
	{"1MiB", 1 << 20},
	{"10MiB", 10 << 20},
}

const avatarName = "Ada Lovelace"

// throughputRounds is how many times each throughput benchmark runs,
// interleaved; the median is reported (the machine is shared).
const throughputRounds = 3

// sinkProcess is the sink, mirakotest.Sink (it reads a build request's body
// and answers like async_build), serving TLS (Mirako is reached over HTTPS)
// in a child process, so that neither its allocations nor its memory count
// as the upload's.
type sinkProcess struct {
	URL    string
	CAFile string // the server's certificate, PEM
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	dir    string
}

// startSink starts benchreport -child sink and reads its address and
// certificate.
func startSink() (*sinkProcess, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "benchreport-sink-")
	if err != nil {
		return nil, err
	}
	s := &sinkProcess{CAFile: filepath.Join(dir, "ca.pem"), dir: dir}
	s.cmd = exec.Command(self, "-child", "sink", "-ca", s.CAFile)
	s.cmd.Stderr = os.Stderr
	if s.stdin, err = s.cmd.StdinPipe(); err != nil {
		return nil, err
	}
	out, err := s.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("sink: %w", err)
	}
	s.URL = strings.TrimSpace(line)
	return s, nil
}

// Close stops the sink: it exits when its standard input closes.
func (s *sinkProcess) Close() {
	s.stdin.Close()
	s.cmd.Wait()
	os.RemoveAll(s.dir)
}

// childSink serves the sink over TLS until standard input closes: it
// writes its certificate to caFile, then its URL on w.
func childSink(w io.Writer, caFile string) error {
	srv := httptest.NewTLSServer(mirakotest.Sink())
	defer srv.Close()
	cert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(caFile, cert, 0o600); err != nil {
		return err
	}
	fmt.Fprintln(w, srv.URL)
	io.Copy(io.Discard, os.Stdin)
	return nil
}

// sinkClient returns a Mirako client for the sink at url, trusting the
// certificate in caFile.
func sinkClient(url, caFile string) (*mirako.Client, error) {
	pemCert, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemCert) {
		return nil, fmt.Errorf("no certificate in %s", caFile)
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.TLSClientConfig = &tls.Config{RootCAs: pool}
	return mirako.NewClient(url, "bench-token", mirako.WithHTTPClient(&http.Client{Transport: transport})), nil
}

func runUpload(r *report) error {
	sk, err := startSink()
	if err != nil {
		return err
	}
	defer sk.Close()
	client, err := sinkClient(sk.URL, sk.CAFile)
	if err != nil {
		return err
	}
	ctx := context.Background()
	var bad error
	for _, s := range uploadSizes {
		// The whole upload: Client.Build streaming over TLS to the sink.
		res := testing.Benchmark(benchUpload(s.size, func(src io.Reader) error {
			if _, err := client.Build(ctx, avatarName, src, s.size); err != nil {
				bad = err
				return err
			}
			return nil
		}))
		if bad != nil {
			return fmt.Errorf("upload %s: %w", s.label, bad)
		}
		r.add("submit_"+s.label+"_alloc_bytes", float64(res.AllocedBytesPerOp()), "B/op")
		r.add("submit_"+s.label+"_allocs", float64(res.AllocsPerOp()), "allocs/op")
		r.add("submit_"+s.label+"_https_MBps", mbps(res), "MB/s")
		// The body alone, as the reference implementations see it.
		res = testing.Benchmark(benchBody(s.size))
		r.add("body_"+s.label+"_alloc_bytes", float64(res.AllocedBytesPerOp()), "B/op")
		res = testing.Benchmark(benchNaive(s.size))
		r.add("naive_"+s.label+"_alloc_bytes", float64(res.AllocedBytesPerOp()), "B/op")
	}

	// Throughput of the 10 MiB body against plain base64, interleaved.
	size := uploadSizes[len(uploadSizes)-1].size
	var body, plain, naive []float64
	for range throughputRounds {
		body = append(body, mbps(testing.Benchmark(benchBody(size))))
		plain = append(plain, mbps(testing.Benchmark(benchBase64(size))))
		naive = append(naive, mbps(testing.Benchmark(benchNaive(size))))
	}
	b, p, n := median(body), median(plain), median(naive)
	r.add("submit_body_10MiB_MBps", b, "MB/s")
	r.add("base64_encode_10MiB_MBps", p, "MB/s")
	r.add("naive_body_10MiB_MBps", n, "MB/s")
	r.add("submit_vs_base64_ratio", b/p, "ratio")
	r.add("naive_vs_base64_ratio", n/p, "ratio")

	// Peak RSS growth, each upload in a fresh process.
	for _, s := range uploadSizes {
		var growth []float64
		for range rssRuns {
			g, err := measureRSS(s.size, sk)
			if err != nil {
				return err
			}
			growth = append(growth, float64(g))
		}
		m := median(growth)
		r.add("submit_"+s.label+"_rss_growth_bytes", m, "bytes")
		r.add("submit_"+s.label+"_rss_growth_max_bytes", slices.Max(growth), "bytes")
		r.add("submit_"+s.label+"_rss_growth_ratio", m/float64(s.size), "ratio")
	}
	return nil
}

// benchUpload benchmarks upload, given a fresh source of size bytes each
// time, with its allocations and its bytes per second.
func benchUpload(size int64, upload func(src io.Reader) error) func(*testing.B) {
	return func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(size)
		src := &mirakotest.PatternReader{}
		for b.Loop() {
			src.N = size
			if err := upload(src); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// benchBody streams the build body into io.Discard.
func benchBody(size int64) func(*testing.B) {
	return benchUpload(size, func(src io.Reader) error {
		body, length := mirako.BuildBody(avatarName, src, size)
		if n, err := io.Copy(io.Discard, body); err != nil || n != length {
			return fmt.Errorf("copied %d bytes (%v), want %d", n, err, length)
		}
		return nil
	})
}

// benchBase64 is the reference speed: base64 into a preallocated buffer.
func benchBase64(size int64) func(*testing.B) {
	return func(b *testing.B) {
		src := make([]byte, size)
		if _, err := io.ReadFull(&mirakotest.PatternReader{N: size}, src); err != nil {
			b.Fatal(err)
		}
		dst := make([]byte, base64.StdEncoding.EncodedLen(len(src)))
		b.SetBytes(size)
		for b.Loop() {
			base64.StdEncoding.Encode(dst, src)
		}
	}
}

// benchNaive builds the body the obvious way: ReadAll, EncodeToString,
// json.Marshal.
func benchNaive(size int64) func(*testing.B) {
	return benchUpload(size, func(src io.Reader) error {
		image, err := io.ReadAll(src)
		if err != nil {
			return err
		}
		body, err := json.Marshal(struct {
			Name  string `json:"name"`
			Image string `json:"image"`
		}{avatarName, base64.StdEncoding.EncodeToString(image)})
		io.Discard.Write(body)
		return err
	})
}

func mbps(r testing.BenchmarkResult) float64 {
	if r.T <= 0 {
		return 0
	}
	return float64(r.Bytes) * float64(r.N) / r.T.Seconds() / 1e6
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// measureRSS runs childRSS in a fresh process.
func measureRSS(size int64, sk *sinkProcess) (int64, error) {
	self, err := os.Executable()
	if err != nil {
		return 0, err
	}
	out, err := exec.Command(self, "-child", "rss", "-size", strconv.FormatInt(size, 10), "-sink", sk.URL, "-ca", sk.CAFile).Output()
	if err != nil {
		return 0, fmt.Errorf("rss child for %d bytes: %w", size, childError(err))
	}
	f := strings.Fields(string(out))
	if len(f) != 3 || f[0] != "rss_growth_bytes" {
		return 0, fmt.Errorf("rss child printed %q", out)
	}
	return strconv.ParseInt(f[1], 10, 64)
}

func childError(err error) error {
	if ee, ok := err.(*exec.ExitError); ok && len(ee.Stderr) > 0 {
		return fmt.Errorf("%w: %s", err, strings.TrimSpace(string(ee.Stderr)))
	}
	return err
}

// rssWarmUp is the size of the upload a fresh process makes before the
// measured one, and rssRuns the number of fresh processes per size (the
// median is reported: a loaded machine makes the Go runtime start more
// threads, each with its own stacks).
const (
	rssWarmUp = 64 << 10
	rssRuns   = 5
)

// childRSS, in a fresh process, measures how far one upload of size bytes
// to the sink raises the peak RSS. A 64 KiB upload first makes the process
// what a warm Submit function is: the client, its TLS connection, its
// threads, the code of the upload path in memory. Then the heap is
// collected and its free pages returned to the system, and the RSS after
// the upload is compared with the RSS before it.
//
// Both are exact (exactRSS); /proc's VmHWM is not, on kernels that count
// RSS per CPU. The RSS after the upload is its peak as long as no garbage
// collection ran during it: the Go runtime returns pages to the system
// only once a collection has freed them, and the pages returned before the
// upload stay returned. childRSS fails if a collection ran.
func childRSS(w io.Writer, size int64, url, caFile string) error {
	client, err := sinkClient(url, caFile)
	if err != nil {
		return err
	}
	ctx := context.Background()
	if _, err := client.Build(ctx, avatarName, &mirakotest.PatternReader{N: rssWarmUp}, rssWarmUp); err != nil {
		return fmt.Errorf("warm-up upload: %w", err)
	}
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	gcs := ms.NumGC
	before, err := exactRSS()
	if err != nil {
		return err
	}
	if _, err := client.Build(ctx, avatarName, &mirakotest.PatternReader{N: size}, size); err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	after, err := exactRSS()
	if err != nil {
		return err
	}
	runtime.ReadMemStats(&ms)
	if ms.NumGC != gcs {
		// A collection could have returned memory mid-upload, and then the
		// RSS after would understate the peak.
		return fmt.Errorf("%d garbage collections ran during the upload; the RSS after it is not its peak", ms.NumGC-gcs)
	}
	fmt.Fprintf(w, "rss_growth_bytes %d bytes\n", max(after-before, 0))
	return nil
}
