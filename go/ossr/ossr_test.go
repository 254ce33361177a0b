package ossr

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// The server comes from the environment (tests/go.rs starts one and sets these).
func testClient(t *testing.T, secret string) (*Client, string) {
	t.Helper()
	endpoint := os.Getenv("OSSR_TEST_ENDPOINT")
	if endpoint == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("OSSR_TEST_ENDPOINT is not set (run through cargo test --test go)")
		}
		t.Skip("OSSR_TEST_ENDPOINT is not set; run through cargo test --test go")
	}
	if secret == "" {
		secret = os.Getenv("OSSR_TEST_ACCESS_KEY_SECRET")
	}
	c, err := NewClient(Config{
		Endpoint:         endpoint,
		Region:           os.Getenv("OSSR_TEST_REGION"),
		AccessKeyID:      os.Getenv("OSSR_TEST_ACCESS_KEY_ID"),
		AccessKeySecret:  secret,
		SignatureVersion: 4,
		MaxAttempts:      2,
	})
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c, os.Getenv("OSSR_TEST_BUCKET")
}

func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	x := uint32(seed) | 1
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x >> 24)
	}
	return b
}

// monotonic records progress calls and checks they never go back or past the total.
type monotonic struct {
	t     *testing.T
	calls int
	last  uint64
	total uint64
}

func (m *monotonic) fn(done, total uint64) bool {
	if done < m.last || (total > 0 && done > total) {
		m.t.Errorf("progress went from %d to %d (total %d)", m.last, done, total)
	}
	m.calls++
	m.last, m.total = done, total
	return true
}

func TestUploadHeadDownloadRoundTrip(t *testing.T) {
	ctx := context.Background()
	c, bucket := testClient(t, "")
	dir := t.TempDir()
	data := pattern(3*1024*1024+123, 1)
	src := filepath.Join(dir, "src.bin")
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	up := &monotonic{t: t}
	rep, err := c.Upload(ctx, src, bucket, "go/round.bin", &UploadOptions{
		CheckpointDir:      dir,
		Headers:            []Header{{"Content-Type", "application/x-go"}, {"x-oss-meta-lang", "go"}},
		MultipartThreshold: 1024 * 1024,
		PartSize:           1024 * 1024,
		Threads:            2,
		Progress:           up.fn,
	})
	if err != nil {
		t.Fatalf("Upload: %v", err)
	}
	if rep.Parts != 4 || rep.PartsUploaded != 4 || rep.CRC64 != CRC64(0, data) || rep.ETag == "" {
		t.Fatalf("upload report %+v", rep)
	}
	if up.calls == 0 || up.last != uint64(len(data)) {
		t.Fatalf("upload progress ended at %d of %d after %d calls", up.last, len(data), up.calls)
	}
	info, err := c.Head(ctx, bucket, "go/round.bin", RequestOptions{})
	if err != nil {
		t.Fatalf("Head: %v", err)
	}
	if info.Size != uint64(len(data)) || !info.HasCRC64 || info.CRC64 != CRC64(0, data) ||
		info.ContentType != "application/x-go" || info.ETag != rep.ETag {
		t.Fatalf("head %+v", info)
	}
	target := filepath.Join(dir, "back.bin")
	down := &monotonic{t: t}
	drep, err := c.Download(ctx, bucket, "go/round.bin", target, &DownloadOptions{
		MultigetThreshold: 1, PartSize: 512 * 1024, Threads: 3, Progress: down.fn,
	})
	if err != nil {
		t.Fatalf("Download: %v", err)
	}
	got, _ := os.ReadFile(target)
	if !bytes.Equal(got, data) {
		t.Fatal("downloaded bytes differ")
	}
	if !drep.Verified || drep.Parts != 7 || drep.BytesFetched != uint64(len(data)) || down.last != uint64(len(data)) {
		t.Fatalf("download report %+v, progress at %d", drep, down.last)
	}
}

func TestCancelledDownloadResumes(t *testing.T) {
	ctx := context.Background()
	c, bucket := testClient(t, "")
	dir := t.TempDir()
	data := pattern(2*1024*1024, 2)
	if _, err := c.Put(ctx, bucket, "go/cancel.bin", bytes.NewReader(data), nil); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(dir, "cancel.bin")
	opts := &DownloadOptions{MultigetThreshold: 1, PartSize: 102400, Threads: 1}
	opts.Progress = func(done, total uint64) bool { return done < total/2 }
	_, err := c.Download(ctx, bucket, "go/cancel.bin", target, opts)
	if !errors.Is(err, ErrCancelled) {
		t.Fatalf("want a cancelled error, got %v", err)
	}
	if _, statErr := os.Stat(target); !os.IsNotExist(statErr) {
		t.Fatal("a cancelled download left a target")
	}
	opts.Progress = nil
	rep, err := c.Download(ctx, bucket, "go/cancel.bin", target, opts)
	if err != nil {
		t.Fatalf("resume: %v", err)
	}
	if rep.Checkpoint != CheckpointResumed || rep.BytesReused == 0 || rep.BytesFetched+rep.BytesReused != uint64(len(data)) {
		t.Fatalf("resume report %+v", rep)
	}
	got, _ := os.ReadFile(target)
	if !bytes.Equal(got, data) {
		t.Fatal("resumed bytes differ")
	}
}

func TestStreamingGetPutCopyAndFile(t *testing.T) {
	ctx := context.Background()
	c, bucket := testClient(t, "")
	data := pattern(1500*1000, 3)
	// Unknown length: chunked.
	res, err := c.Put(ctx, bucket, "go/stream.bin", io.MultiReader(bytes.NewReader(data[:7]), bytes.NewReader(data[7:])), &PutOptions{
		Headers: []Header{{"Content-Type", "text/plain"}},
	})
	if err != nil || !res.HasCRC64 || res.CRC64 != CRC64(0, data) {
		t.Fatalf("chunked Put: %+v %v", res, err)
	}
	// Known length, with progress.
	p := &monotonic{t: t}
	res, err = c.Put(ctx, bucket, "go/known.bin", bytes.NewReader(data), &PutOptions{Length: int64(len(data)), Progress: p.fn})
	if err != nil || res.CRC64 != CRC64(0, data) || p.total != uint64(len(data)) || p.last != uint64(len(data)) {
		t.Fatalf("Put with length: %+v %v, progress %d/%d", res, err, p.last, p.total)
	}
	r, err := c.Open(ctx, bucket, "go/stream.bin", nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Open+ReadAll: %d bytes, %v", len(got), err)
	}
	if crc, ok := r.ServerCRC(); !ok || crc != r.ClientCRC() || r.ContentLength() != uint64(len(data)) || r.ETag() == "" {
		t.Fatalf("stream facts: crc %d/%d ok %v, length %d", crc, r.ClientCRC(), ok, r.ContentLength())
	}
	_ = r.Close()
	_ = r.Close()
	r, err = c.Open(ctx, bucket, "go/stream.bin", &GetOptions{Range: &Range{First: 100, Last: 199}})
	if err != nil {
		t.Fatal(err)
	}
	got, _ = io.ReadAll(r)
	_ = r.Close()
	if !bytes.Equal(got, data[100:200]) {
		t.Fatal("ranged read differs")
	}
	if _, err := c.Copy(ctx, bucket, "go/stream.bin", bucket, "go/copy.bin", nil, &PutOptions{Headers: []Header{{"x-oss-meta-copied", "yes"}}}); err != nil {
		t.Fatalf("Copy: %v", err)
	}
	target := filepath.Join(t.TempDir(), "copy.bin")
	rep, err := c.GetToFile(ctx, bucket, "go/copy.bin", target, nil)
	if err != nil || !rep.Verified || rep.Bytes != uint64(len(data)) {
		t.Fatalf("GetToFile: %+v %v", rep, err)
	}
	got, _ = os.ReadFile(target)
	if !bytes.Equal(got, data) {
		t.Fatal("copied bytes differ")
	}
	url, err := c.PresignGet(bucket, "go/copy.bin", time.Minute)
	if err != nil || !strings.Contains(url, "go/copy.bin") {
		t.Fatalf("PresignGet: %q %v", url, err)
	}
	if err := c.Delete(ctx, bucket, "go/copy.bin", RequestOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Head(ctx, bucket, "go/copy.bin", RequestOptions{}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after Delete: %v", err)
	}
}

var errDiskOnFire = errors.New("disk on fire")

type failingReader struct{ n int }

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n > 0 {
		f.n--
		return copy(p, "abc"), nil
	}
	return 0, errDiskOnFire
}

func TestErrorsCarryCodesAndServerDetails(t *testing.T) {
	ctx := context.Background()
	c, bucket := testClient(t, "")
	_, err := c.Head(ctx, bucket, "go/missing", RequestOptions{})
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeNotFound || e.HTTPStatus != 404 {
		t.Fatalf("missing key: %v", err)
	}
	_, err = c.Download(ctx, bucket, "go/missing", filepath.Join(t.TempDir(), "x"), nil)
	if !errors.As(err, &e) || e.OSSCode != "NoSuchKey" || e.RequestID == "" || !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing key download: %#v", err)
	}
	wrong, _ := testClient(t, "wrong-secret")
	_, err = wrong.Head(ctx, bucket, "go/anything", RequestOptions{})
	if !errors.Is(err, ErrAccessDenied) {
		t.Fatalf("wrong secret: %v", err)
	}
	_, err = wrong.Put(ctx, bucket, "go/denied", strings.NewReader("x"), nil)
	if !errors.As(err, &e) || e.OSSCode != "SignatureDoesNotMatch" || e.HTTPStatus != 403 {
		t.Fatalf("wrong secret put: %v", err)
	}
	_, err = c.Put(ctx, bucket, "go/broken", &failingReader{n: 2}, nil)
	if !errors.Is(err, ErrIO) || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("failing reader: %v", err)
	}
	if !errors.Is(err, errDiskOnFire) {
		t.Fatalf("the reader's own error is not wrapped: %v", err)
	}
	if !errors.As(err, &e) || e.Code != CodeIO {
		t.Fatalf("errors.As finds no *Error with CodeIO in %v", err)
	}
	if _, err := c.Head(ctx, bucket, "go/broken", RequestOptions{}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a failed put left an object: %v", err)
	}
	_, err = c.Download(ctx, bucket, "go/x", filepath.Join(t.TempDir(), "x"), &DownloadOptions{Threads: 1000})
	if !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), "threads") {
		t.Fatalf("1000 threads: %v", err)
	}
	if _, err := NewClient(Config{Endpoint: "http://127.0.0.1:1", AccessKeyID: "a", AccessKeySecret: "b"}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("V4 without a region: %v", err)
	}
	if Version() == "" || CodeNotFound.String() != "not found" {
		t.Fatalf("version %q, code string %q", Version(), CodeNotFound.String())
	}
}

func TestPanicInProgressDoesNotCrossC(t *testing.T) {
	ctx := context.Background()
	c, bucket := testClient(t, "")
	if _, err := c.Put(ctx, bucket, "go/panic.bin", bytes.NewReader(pattern(300*1024, 4)), nil); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if r := recover(); r != "boom" {
			t.Fatalf("want the callback's panic re-raised, got %v", r)
		}
	}()
	_, _ = c.Download(ctx, bucket, "go/panic.bin", filepath.Join(t.TempDir(), "p"), &DownloadOptions{
		MultigetThreshold: 1, PartSize: 102400,
		Progress: func(done, total uint64) bool { panic("boom") },
	})
	t.Fatal("Download returned instead of re-raising the panic")
}

func TestConcurrentDownloadsShareOneClient(t *testing.T) {
	ctx := context.Background()
	c, bucket := testClient(t, "")
	dir := t.TempDir()
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := 0; i < n; i++ {
		data := pattern(400*1024+i*1000, byte(10+i))
		key := "go/many/" + string(rune('a'+i))
		if _, err := c.Put(ctx, bucket, key, bytes.NewReader(data), nil); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func(i int, key string, data []byte) {
			defer wg.Done()
			target := filepath.Join(dir, key[len("go/many/"):])
			if _, err := c.Download(ctx, bucket, key, target, &DownloadOptions{MultigetThreshold: 1, PartSize: 102400, Threads: 2}); err != nil {
				errs[i] = err
				return
			}
			got, _ := os.ReadFile(target)
			if !bytes.Equal(got, data) {
				errs[i] = errors.New("bytes differ for " + key)
			}
		}(i, key, data)
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

func TestMultipartByHandAndOneRequestPuts(t *testing.T) {
	ctx := context.Background()
	c, bucket := testClient(t, "")
	data := pattern(2*102400+500, 20)
	res, err := c.PutObject(ctx, bucket, "go/mp/bytes", data, &PutOptions{Headers: []Header{{"Content-Type", "text/plain"}}})
	if err != nil || res.CRC64 != CRC64(0, data) {
		t.Fatalf("PutObject: %+v %v", res, err)
	}
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, data[:1000], 0o600); err != nil {
		t.Fatal(err)
	}
	if res, err := c.PutFile(ctx, bucket, "go/mp/file", path, nil); err != nil || res.CRC64 != CRC64(0, data[:1000]) {
		t.Fatalf("PutFile: %+v %v", res, err)
	}
	id, err := c.InitiateMultipartUpload(ctx, bucket, "go/mp/multi", nil, false)
	if err != nil || id == "" {
		t.Fatalf("Initiate: %q %v", id, err)
	}
	var parts []UploadedPart
	for i := 0; i < 3; i++ {
		end := (i + 1) * 102400
		if end > len(data) {
			end = len(data)
		}
		part, err := c.UploadPart(ctx, bucket, "go/mp/multi", id, uint32(i+1), data[i*102400:end])
		if err != nil || part.CRC64 != CRC64(0, data[i*102400:end]) {
			t.Fatalf("UploadPart %d: %+v %v", i+1, part, err)
		}
		parts = append(parts, part)
	}
	listed, err := c.ListParts(ctx, bucket, "go/mp/multi", id)
	if err != nil || len(listed) != 3 || listed[2].Size != 500 || listed[1].ETag != parts[1].ETag {
		t.Fatalf("ListParts: %+v %v", listed, err)
	}
	uploads, err := c.ListMultipartUploads(ctx, bucket, "go/mp/")
	if err != nil || len(uploads) != 1 || uploads[0].UploadID != id || uploads[0].Key != "go/mp/multi" {
		t.Fatalf("ListMultipartUploads: %+v %v", uploads, err)
	}
	res, err = c.CompleteMultipartUpload(ctx, bucket, "go/mp/multi", id, parts)
	joined := CRC64Combine(CRC64Combine(parts[0].CRC64, parts[1].CRC64, 102400), parts[2].CRC64, 500)
	if err != nil || res.CRC64 != CRC64(0, data) || joined != res.CRC64 {
		t.Fatalf("Complete: %+v %v (joined %d)", res, err, joined)
	}
	other, _ := c.InitiateMultipartUpload(ctx, bucket, "go/mp/other", nil, false)
	if err := c.AbortMultipartUpload(ctx, bucket, "go/mp/other", other); err != nil {
		t.Fatal(err)
	}
	if err := c.AbortMultipartUpload(ctx, bucket, "go/mp/other", other); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second abort: %v", err)
	}
	if _, err := c.CompleteMultipartUpload(ctx, bucket, "go/mp/x", "no-such-upload", nil); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("complete with no parts: %v", err)
	}
}

// fault sets one of the local server's fault switches and clears them all when the
// test ends.
func fault(t *testing.T, name, value string) {
	t.Helper()
	endpoint := os.Getenv("OSSR_TEST_ENDPOINT")
	resp, err := http.Post(endpoint+"/_ossr/faults?"+name+"="+value, "text/plain", nil)
	if err != nil {
		t.Fatalf("setting fault %s: %v", name, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("setting fault %s: HTTP %d", name, resp.StatusCode)
	}
	t.Cleanup(clearFaults)
}

// clearFaults clears every fault switch of the local server.
func clearFaults() {
	req, _ := http.NewRequest(http.MethodDelete, os.Getenv("OSSR_TEST_ENDPOINT")+"/_ossr/faults", nil)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
	}
}

// requestsServed is how many requests the local server has answered so far.
func requestsServed(t *testing.T) int {
	t.Helper()
	resp, err := http.Get(os.Getenv("OSSR_TEST_ENDPOINT") + "/_ossr/stats")
	if err != nil {
		t.Fatalf("reading the server's stats: %v", err)
	}
	defer resp.Body.Close()
	var stats struct {
		Requests map[string]map[string]int `json:"requests"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&stats); err != nil {
		t.Fatalf("decoding the server's stats: %v", err)
	}
	n := 0
	for _, byStatus := range stats.Requests {
		for _, count := range byStatus {
			n += count
		}
	}
	return n
}

// waitFor polls cond every 5 ms until it holds, failing the test after a minute.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// isContextCancel checks that err is a cancel caused by the context ending with
// want (context.Canceled or context.DeadlineExceeded).
func isContextCancel(t *testing.T, what string, err, want error) {
	t.Helper()
	var e *Error
	if !errors.Is(err, want) || !errors.Is(err, ErrCancelled) || !errors.As(err, &e) || e.Code != CodeCancelled {
		t.Fatalf("%s: want an error matching both %v and ErrCancelled, got %#v", what, want, err)
	}
}

func TestContextStopsADownloadTheServerStalledAndItResumes(t *testing.T) {
	c, bucket := testClient(t, "")
	dir := t.TempDir()
	const part = 200 * 1024
	const threads = 3
	data := pattern(12*part, 40)
	if _, err := c.PutObject(context.Background(), bucket, "go/stalled.bin", data, nil); err != nil {
		t.Fatal(err)
	}
	// Every GET body stops after half a part, for far longer than the test.
	fault(t, "stall_after_bytes", "102400")
	fault(t, "stall_ms", "30000")
	fault(t, "stall_count", "1000")
	target := filepath.Join(dir, "stalled.bin")
	var moved atomic.Uint64
	opts := &DownloadOptions{
		CheckpointDir: dir, MultigetThreshold: 1, PartSize: part, Threads: threads, NoFsync: true,
		Progress: func(done, total uint64) bool { moved.Store(done); return true },
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	result := make(chan error, 1)
	go func() {
		_, err := c.Download(ctx, bucket, "go/stalled.bin", target, opts)
		result <- err
	}()
	// Wait on state: every body has sent its half part and stalled.
	waitFor(t, "every body stalls", func() bool { return moved.Load() >= threads*part/2 })
	at := time.Now()
	cancel()
	var err error
	select {
	case err = <-result:
	case <-time.After(30 * time.Second):
		t.Fatal("the download did not return within 30 s of the cancel")
	}
	took := time.Since(at)
	t.Logf("download cancel latency %v", took)
	isContextCancel(t, "stalled download", err, context.Canceled)
	if took >= time.Second {
		t.Fatalf("took %v to cancel (allowed 1 s; the target is 200 ms)", took)
	}
	if _, statErr := os.Stat(target); !os.IsNotExist(statErr) {
		t.Fatal("a cancelled download left a target")
	}
	clearFaults()
	opts.Progress = nil
	rep, err := c.Download(context.Background(), bucket, "go/stalled.bin", target, opts)
	if err != nil {
		t.Fatalf("resume: %v", err)
	}
	got, _ := os.ReadFile(target)
	if !bytes.Equal(got, data) || rep.Checkpoint != CheckpointResumed || !rep.Verified {
		t.Fatalf("resume: %d bytes (want %d identical), report %+v", len(got), len(data), rep)
	}
}

func TestAReaderIsGovernedByItsOpenContext(t *testing.T) {
	c, bucket := testClient(t, "")
	data := pattern(300000, 41)
	if _, err := c.PutObject(context.Background(), bucket, "go/stalled-stream.bin", data, nil); err != nil {
		t.Fatal(err)
	}
	fault(t, "stall_after_bytes", "100000")
	fault(t, "stall_ms", "30000")
	fault(t, "stall_count", "1")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r, err := c.Open(ctx, bucket, "go/stalled-stream.bin", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	head := make([]byte, 100000)
	if _, err := io.ReadFull(r, head); err != nil || !bytes.Equal(head, data[:100000]) {
		t.Fatalf("the bytes before the stall: %v", err)
	}
	// The server sends nothing more: this Read blocks until the cancel.
	result := make(chan error, 1)
	go func() {
		_, err := r.Read(make([]byte, 1000))
		result <- err
	}()
	at := time.Now()
	cancel()
	select {
	case err = <-result:
	case <-time.After(30 * time.Second):
		t.Fatal("the Read did not return within 30 s of the cancel")
	}
	took := time.Since(at)
	t.Logf("stream read cancel latency %v", took)
	isContextCancel(t, "stalled Read", err, context.Canceled)
	if took >= time.Second {
		t.Fatalf("took %v to cancel the Read", took)
	}
	if _, err := r.Read(make([]byte, 10)); !errors.Is(err, context.Canceled) || !errors.Is(err, ErrCancelled) {
		t.Fatalf("a Read after the cancel: %v", err)
	}
}

func TestADoneContextFailsAtOnceWithoutARequest(t *testing.T) {
	c, bucket := testClient(t, "")
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancel2 := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel2()
	before := requestsServed(t)
	_, err := c.Head(cancelled, bucket, "go/anything", RequestOptions{})
	isContextCancel(t, "Head", err, context.Canceled)
	_, err = c.Download(expired, bucket, "go/anything", filepath.Join(t.TempDir(), "x"), nil)
	isContextCancel(t, "Download", err, context.DeadlineExceeded)
	_, err = c.Open(cancelled, bucket, "go/anything", nil)
	isContextCancel(t, "Open", err, context.Canceled)
	_, err = c.PutObject(cancelled, bucket, "go/anything", []byte("x"), nil)
	isContextCancel(t, "PutObject", err, context.Canceled)
	_, err = c.ListParts(expired, bucket, "go/anything", "id")
	isContextCancel(t, "ListParts", err, context.DeadlineExceeded)
	if err := c.AbortMultipartUpload(cancelled, bucket, "go/anything", "id"); !errors.Is(err, context.Canceled) {
		t.Fatalf("AbortMultipartUpload: %v", err)
	}
	if after := requestsServed(t); after != before {
		t.Fatalf("%d requests reached the server", after-before)
	}
	// A progress func that returns false is a cancel too, but not the context's.
	if _, err := c.PutObject(context.Background(), bucket, "go/progress-cancel", pattern(1000, 42), nil); err != nil {
		t.Fatal(err)
	}
	_, err = c.Download(context.Background(), bucket, "go/progress-cancel", filepath.Join(t.TempDir(), "p"), &DownloadOptions{
		Progress: func(done, total uint64) bool { return false },
	})
	if !errors.Is(err, ErrCancelled) || errors.Is(err, context.Canceled) {
		t.Fatalf("a progress cancel: %v", err)
	}
}

func TestWaitIfBusyUploadWaitsUntilItsContextEnds(t *testing.T) {
	c, bucket := testClient(t, "")
	dir := t.TempDir()
	src := filepath.Join(dir, "busy.bin")
	if err := os.WriteFile(src, pattern(300*1024, 43), 0o600); err != nil {
		t.Fatal(err)
	}
	base := UploadOptions{CheckpointDir: dir, MultipartThreshold: 1, PartSize: 102400, Threads: 1}
	// The first upload holds the checkpoint while its progress func blocks.
	holding := make(chan struct{})
	release := make(chan struct{})
	var once sync.Once
	first := base
	first.Progress = func(done, total uint64) bool {
		once.Do(func() { close(holding); <-release })
		return true
	}
	firstDone := make(chan error, 1)
	go func() {
		_, err := c.Upload(context.Background(), src, bucket, "go/busy.bin", &first)
		firstDone <- err
	}()
	select {
	case <-holding:
	case err := <-firstDone:
		t.Fatalf("the first upload ended early: %v", err)
	}
	defer func() {
		close(release)
		if err := <-firstDone; err != nil {
			t.Errorf("the first upload: %v", err)
		}
	}()
	if _, err := c.Upload(context.Background(), src, bucket, "go/busy.bin", &base); !errors.Is(err, ErrBusy) {
		t.Fatalf("without WaitIfBusy: want ErrBusy, got %v", err)
	}
	// With it, the upload waits, and only its context's end stops the wait.
	waiting := base
	waiting.WaitIfBusy = true
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	result := make(chan error, 1)
	go func() {
		_, err := c.Upload(ctx, src, bucket, "go/busy.bin", &waiting)
		result <- err
	}()
	select {
	case err := <-result:
		isContextCancel(t, "a waiting upload", err, context.DeadlineExceeded)
	case <-time.After(30 * time.Second):
		t.Fatal("the waiting upload outlived its 300 ms context by 30 s")
	}
}

func TestAFailedReaderStaysFailed(t *testing.T) {
	ctx := context.Background()
	c, bucket := testClient(t, "")
	data := pattern(300000, 30)
	if _, err := c.PutObject(ctx, bucket, "go/sticky.bin", data, nil); err != nil {
		t.Fatal(err)
	}
	fault(t, "flip_count", "1")
	r, err := c.Open(ctx, bucket, "go/sticky.bin", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	_, err = io.Copy(io.Discard, r)
	if !errors.Is(err, ErrCRCMismatch) {
		t.Fatalf("io.Copy: want a CRC mismatch, got %v", err)
	}
	at := r.BytesRead()
	buf := make([]byte, 64*1024)
	for i := 1; i <= 3; i++ {
		n, again := r.Read(buf)
		if n != 0 || !errors.Is(again, ErrCRCMismatch) || again.Error() != err.Error() {
			t.Fatalf("read %d after the failure: %d bytes, %v", i, n, again)
		}
	}
	if r.BytesRead() != at || at >= uint64(len(data)) {
		t.Fatalf("bytes read %d then %d of %d", at, r.BytesRead(), len(data))
	}
}

func TestReaderAfterCloseGivesZerosNotGarbage(t *testing.T) {
	ctx := context.Background()
	c, bucket := testClient(t, "")
	if _, err := c.PutObject(ctx, bucket, "go/closed.bin", pattern(1000, 31), nil); err != nil {
		t.Fatal(err)
	}
	r, err := c.Open(ctx, bucket, "go/closed.bin", nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.ETag() == "" {
		t.Fatal("no ETag while open")
	}
	_ = r.Close()
	// The same buffer size again: before the fix the failed call's buffer was read.
	for i := 0; i < 10; i++ {
		if etag := r.ETag(); etag != "" {
			t.Fatalf("ETag after Close: %q", etag)
		}
	}
	if _, ok := r.ServerCRC(); ok || r.BytesRead() != 0 || r.ContentLength() != 0 {
		t.Fatal("getters after Close report values")
	}
	if _, err := r.Read(make([]byte, 10)); !errors.Is(err, &Error{Code: CodeNullArgument}) {
		t.Fatalf("Read after Close: %v", err)
	}
}

func TestCountsThatDoNotFitIn32BitsAreRefused(t *testing.T) {
	ctx := context.Background()
	c, bucket := testClient(t, "")
	if _, err := c.PutObject(ctx, bucket, "go/wide.bin", pattern(1000, 32), nil); err != nil {
		t.Fatal(err)
	}
	const huge = 1<<32 + 2 // cut to 32 bits, this was 2
	dir := t.TempDir()
	_, err := c.Download(ctx, bucket, "go/wide.bin", filepath.Join(dir, "d"), &DownloadOptions{Threads: huge})
	if !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), "Threads") {
		t.Fatalf("Download with Threads 2^32+2: %v", err)
	}
	_, err = c.Download(ctx, bucket, "go/wide.bin", filepath.Join(dir, "d"), &DownloadOptions{PartAttempts: huge})
	if !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("Download with PartAttempts 2^32+2: %v", err)
	}
	src := filepath.Join(dir, "src")
	if err := os.WriteFile(src, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = c.Upload(ctx, src, bucket, "go/wide-up", &UploadOptions{CheckpointDir: dir, Threads: huge})
	if !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("Upload with Threads 2^32+2: %v", err)
	}
	attempts := huge
	if _, err := c.Open(ctx, bucket, "go/wide.bin", &GetOptions{ResumeAttempts: &attempts}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("Open with ResumeAttempts 2^32+2: %v", err)
	}
	negative := -1
	if _, err := c.GetToFile(ctx, bucket, "go/wide.bin", filepath.Join(dir, "g"), &GetOptions{ResumeAttempts: &negative}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("GetToFile with ResumeAttempts -1: %v", err)
	}
	_, err = NewClient(Config{Endpoint: "http://127.0.0.1:1", AccessKeyID: "a", AccessKeySecret: "b", SignatureVersion: 1, MaxAttempts: huge})
	if !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), "MaxAttempts") {
		t.Fatalf("NewClient with MaxAttempts 2^32+2: %v", err)
	}
}

func TestCloseDoesNotWaitForAReaderLeftOpen(t *testing.T) {
	ctx := context.Background()
	c, bucket := testClient(t, "")
	if _, err := c.PutObject(ctx, bucket, "go/open.bin", pattern(200000, 33), nil); err != nil {
		t.Fatal(err)
	}
	idle, err := c.Open(ctx, bucket, "go/open.bin", nil)
	if err != nil {
		t.Fatal(err)
	}
	busy, err := c.Open(ctx, bucket, "go/open.bin", nil)
	if err != nil {
		t.Fatal(err)
	}
	// One Reader is read by another goroutine while Close runs; the other is idle.
	reading := make(chan error, 1)
	go func() {
		buf := make([]byte, 100)
		for {
			if _, err := busy.Read(buf); err != nil {
				reading <- err
				return
			}
		}
	}()
	closed := make(chan struct{})
	go func() {
		_ = c.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(30 * time.Second):
		t.Fatal("Client.Close still waits 30 s after it was called with a Reader open")
	}
	if err := <-reading; err != io.EOF && !errors.Is(err, &Error{Code: CodeNullArgument}) {
		t.Fatalf("the busy Reader ended with %v", err)
	}
	if _, err := idle.Read(make([]byte, 10)); !errors.Is(err, &Error{Code: CodeNullArgument}) {
		t.Fatalf("Read of a Reader whose client closed: %v", err)
	}
	if idle.ETag() != "" || idle.Close() != nil || busy.Close() != nil {
		t.Fatal("a closed Reader answered")
	}
	if _, err := c.Open(ctx, bucket, "go/open.bin", nil); !errors.Is(err, &Error{Code: CodeNullArgument}) {
		t.Fatalf("Open after Close: %v", err)
	}
}

func TestCheckpointStateHasAName(t *testing.T) {
	for state, want := range map[CheckpointState]string{
		CheckpointNotUsed: "not used", CheckpointNotFound: "not found",
		CheckpointResumed: "resumed", CheckpointDiscarded: "discarded", 99: "CheckpointState(99)",
	} {
		if got := state.String(); got != want {
			t.Errorf("%d: %q, want %q", int(state), got, want)
		}
	}
}

// A pipe or a device is never uploaded as an empty "verified" object: Upload and
// PutFile refuse what is not a regular file, by name, and the key keeps its bytes.
func TestSourcesThatAreNotRegularFilesAreRefused(t *testing.T) {
	c, bucket := testClient(t, "")
	ctx := context.Background()
	want := pattern(1000, 9)
	if _, err := c.PutObject(ctx, bucket, "go/not-regular", want, nil); err != nil {
		t.Fatalf("PutObject: %v", err)
	}
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatalf("mkfifo: %v", err)
	}
	for _, src := range []string{"/dev/zero", fifo} {
		if _, err := c.Upload(ctx, src, bucket, "go/not-regular", nil); !errors.Is(err, ErrInvalidArgument) ||
			!strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("Upload(%s): %v", src, err)
		}
		if _, err := c.PutFile(ctx, bucket, "go/not-regular", src, nil); !errors.Is(err, ErrInvalidArgument) ||
			!strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("PutFile(%s): %v", src, err)
		}
	}
	var got bytes.Buffer
	r, err := c.Open(ctx, bucket, "go/not-regular", nil)
	if err != nil {
		t.Fatalf("GetObject: %v", err)
	}
	defer r.Close()
	if _, err := io.Copy(&got, r); err != nil || !bytes.Equal(got.Bytes(), want) {
		t.Fatalf("the key lost its bytes (%v)", err)
	}
}
