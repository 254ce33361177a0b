package ossr

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// serverStats reads the local server's counters this file's tests wait on.
func serverStats(t *testing.T) (bytesServed uint64, uploadsInProgress uint64, partCopies int) {
	t.Helper()
	resp, err := http.Get(os.Getenv("OSSR_TEST_ENDPOINT") + "/_ossr/stats")
	if err != nil {
		t.Fatalf("reading the server's stats: %v", err)
	}
	defer resp.Body.Close()
	var stats struct {
		Requests          map[string]map[string]int `json:"requests"`
		BytesServed       uint64                    `json:"bytes_served"`
		UploadsInProgress uint64                    `json:"uploads_in_progress"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&stats); err != nil {
		t.Fatalf("decoding the server's stats: %v", err)
	}
	return stats.BytesServed, stats.UploadsInProgress, stats.Requests["UploadPartCopy"]["200"]
}

// settledBytesServed waits until the server's count of body bytes sent stops
// moving (it adds an answer's bytes when the answer ends, which can be after the
// client has read them) and returns it.
func settledBytesServed(t *testing.T) uint64 {
	t.Helper()
	last, _, _ := serverStats(t)
	for i := 0; i < 50; i++ {
		time.Sleep(100 * time.Millisecond)
		now, _, _ := serverStats(t)
		if now == last {
			return now
		}
		last = now
	}
	t.Fatal("the server kept serving bytes for 5 s")
	return 0
}

// readObject reads a whole object back through a GET stream.
func readObject(t *testing.T, c *Client, bucket, key string) []byte {
	t.Helper()
	r, err := c.Open(context.Background(), bucket, key, nil)
	if err != nil {
		t.Fatalf("Open %s: %v", key, err)
	}
	defer r.Close()
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("reading %s: %v", key, err)
	}
	return got
}

func TestCopyObjectSmallAndMultipartOnTheServer(t *testing.T) {
	ctx := context.Background()
	c, bucket := testClient(t, "")
	small := pattern(300000, 70)
	large := pattern(10*102400+777, 71)
	csv := &PutOptions{Headers: []Header{{"Content-Type", "text/csv"}}}
	for key, data := range map[string][]byte{"go/cp/small": small, "go/cp/large": large} {
		if _, err := c.PutObject(ctx, bucket, key, data, csv); err != nil {
			t.Fatal(err)
		}
	}
	served, _, _ := serverStats(t)
	p := &monotonic{t: t}
	rep, err := c.CopyObject(ctx, bucket, "go/cp/small", bucket, "go/cp/small-copy", nil, p.fn)
	if err != nil {
		t.Fatalf("small CopyObject: %v", err)
	}
	if rep.Path != CopyPathServerSingle || rep.Size != uint64(len(small)) || rep.Parts != 0 ||
		!rep.HasCRC64 || rep.CRC64 != CRC64(0, small) || rep.ETag == "" || rep.Checkpoint != CheckpointNotUsed {
		t.Fatalf("small copy report %+v", rep)
	}
	if p.last != uint64(len(small)) || p.total != uint64(len(small)) {
		t.Fatalf("progress ended at %d/%d", p.last, p.total)
	}
	if after, _, _ := serverStats(t); after != served {
		t.Fatalf("a server-side copy served %d bytes to the client", after-served)
	}

	dir := t.TempDir()
	opts := &CopyOptions{CheckpointDir: dir, Threshold: 1, PartSize: 102400, Threads: 3,
		Headers: []Header{{"Content-Type", "application/x-replaced"}}}
	rep, err = c.CopyObject(ctx, bucket, "go/cp/large", bucket, "go/cp/large-copy", opts, nil)
	if err != nil {
		t.Fatalf("multipart CopyObject: %v", err)
	}
	if rep.Path != CopyPathServerMultipart || rep.Parts != 11 || rep.PartSize != 102400 ||
		rep.PartsCopied != 11 || rep.CRC64 != CRC64(0, large) || rep.Path.String() != "server multipart" {
		t.Fatalf("multipart copy report %+v", rep)
	}
	if !bytes.Equal(readObject(t, c, bucket, "go/cp/small-copy"), small) ||
		!bytes.Equal(readObject(t, c, bucket, "go/cp/large-copy"), large) {
		t.Fatal("a copy holds other bytes than its source")
	}
	for key, want := range map[string]string{"go/cp/small-copy": "text/csv", "go/cp/large-copy": "application/x-replaced"} {
		info, err := c.Head(ctx, bucket, key, RequestOptions{})
		if err != nil || info.ContentType != want {
			t.Fatalf("%s: Content-Type %q (want %q), %v", key, info.ContentType, want, err)
		}
	}

	// Refused before any request.
	before := requestsServed(t)
	for what, bad := range map[string]*CopyOptions{
		"threads":     {Threads: 65},
		"part size":   {PartSize: 1000},
		"copy header": {Headers: []Header{{"x-oss-metadata-directive", "COPY"}}},
		"version id":  {Request: RequestOptions{VersionID: "v1"}},
		"traffic":     {Request: RequestOptions{TrafficLimit: 1}},
		"threads <0":  {Threads: -1},
		"bad header":  {Headers: []Header{{"Bad Name", "x"}}},
	} {
		if _, err := c.CopyObject(ctx, bucket, "go/cp/small", bucket, "go/cp/never", bad, nil); !errors.Is(err, ErrInvalidArgument) {
			t.Fatalf("%s: want ErrInvalidArgument, got %v", what, err)
		}
	}
	if after := requestsServed(t); after != before {
		t.Fatalf("bad options sent %d requests", after-before)
	}
	_, err = c.CopyObject(ctx, bucket, "go/cp/small", bucket, "go/cp/small-copy", &CopyOptions{ForbidOverwrite: true}, nil)
	var e *Error
	if !errors.As(err, &e) || e.OSSCode != "FileAlreadyExists" {
		t.Fatalf("forbid overwrite: %v", err)
	}
}

func TestCopyObjectStoppedByItsContextResumes(t *testing.T) {
	c, bucket := testClient(t, "")
	const part = 102400
	data := pattern(10*part, 72)
	if _, err := c.PutObject(context.Background(), bucket, "go/cp/slow", data, nil); err != nil {
		t.Fatal(err)
	}
	// Every answer 150 ms late: one thread copies about six parts a second.
	fault(t, "latency_ms", "150")
	dir := t.TempDir()
	opts := &CopyOptions{CheckpointDir: dir, Threshold: 1, PartSize: part, Threads: 1}
	var moved atomic.Uint64
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	result := make(chan error, 1)
	go func() {
		_, err := c.CopyObject(ctx, bucket, "go/cp/slow", bucket, "go/cp/slow-copy", opts,
			func(done, total uint64) bool { moved.Store(done); return true })
		result <- err
	}()
	waitFor(t, "two parts are copied", func() bool { return moved.Load() >= 2*part })
	at := time.Now()
	cancel()
	var err error
	select {
	case err = <-result:
	case <-time.After(30 * time.Second):
		t.Fatal("the copy did not return within 30 s of the cancel")
	}
	took := time.Since(at)
	t.Logf("copy cancel latency %v", took)
	isContextCancel(t, "copy", err, context.Canceled)
	if took >= time.Second {
		t.Fatalf("took %v to cancel the copy", took)
	}
	if _, uploads, _ := serverStats(t); uploads == 0 {
		t.Fatal("the cancelled copy's upload is gone: nothing to resume")
	}
	clearFaults()
	_, _, copiesBefore := serverStats(t)
	rep, err := c.CopyObject(context.Background(), bucket, "go/cp/slow", bucket, "go/cp/slow-copy", opts, nil)
	if err != nil {
		t.Fatalf("resume: %v", err)
	}
	_, uploads, copiesAfter := serverStats(t)
	if rep.Checkpoint != CheckpointResumed || rep.PartsReused < 2 || rep.PartsReused+rep.PartsCopied != 10 ||
		uint64(copiesAfter-copiesBefore) != rep.PartsCopied {
		t.Fatalf("resume report %+v, %d part copies", rep, copiesAfter-copiesBefore)
	}
	if !bytes.Equal(readObject(t, c, bucket, "go/cp/slow-copy"), data) || uploads != 0 {
		t.Fatalf("the resumed copy differs, or %d uploads are left", uploads)
	}
}

// zipArchive builds a zip of 40 stored members of 1 MiB of noise, with a small
// text member in the middle; it returns the archive and the text.
func zipArchive(t *testing.T) ([]byte, []byte) {
	t.Helper()
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	readme := bytes.Repeat([]byte("the member we want, small and in the middle\n"), 20)
	for i := 0; i < 40; i++ {
		if i == 20 {
			f, err := w.CreateHeader(&zip.FileHeader{Name: "docs/readme.txt", Method: zip.Deflate})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.Write(readme); err != nil {
				t.Fatal(err)
			}
		}
		f, err := w.CreateHeader(&zip.FileHeader{Name: fmt.Sprintf("data/part-%02d.bin", i), Method: zip.Store})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write(pattern(1<<20, byte(i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), readme
}

func TestAZipObjectIsListedAndOneMemberExtractedFetchingUnder5Percent(t *testing.T) {
	ctx := context.Background()
	c, bucket := testClient(t, "")
	archive, readme := zipArchive(t)
	if _, err := c.PutObject(ctx, bucket, "go/archive.zip", archive, nil); err != nil {
		t.Fatal(err)
	}
	served := settledBytesServed(t)
	f, err := c.OpenFile(ctx, bucket, "go/archive.zip", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	z, err := zip.NewReader(f, f.Size())
	if err != nil {
		t.Fatalf("zip.NewReader: %v", err)
	}
	if len(z.File) != 41 || z.File[40].Name != "data/part-39.bin" {
		t.Fatalf("listed %d members", len(z.File))
	}
	r, err := z.Open("docs/readme.txt")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	r.Close()
	if err != nil || !bytes.Equal(got, readme) {
		t.Fatalf("the extracted member differs: %v", err)
	}
	// Wait on the counters: the server adds a body's bytes when the answer ends,
	// and a prefetch may still be on its way.
	var fetched uint64
	var stats FileStats
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		now, _, _ := serverStats(t)
		fetched, stats = now-served, f.Stats()
		if fetched == stats.BytesFetched {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server sent %d bytes, the file counts %+v", fetched, stats)
		}
	}
	t.Logf("zip of %d bytes: %d fetched in %d requests, %+v", len(archive), fetched, stats.Requests, stats)
	if fetched == 0 || fetched*20 >= uint64(len(archive)) {
		t.Fatalf("%d of %d bytes fetched (want under 5%%)", fetched, len(archive))
	}
}

func TestFileReadAtFromGoroutinesReadSeekAndStats(t *testing.T) {
	ctx := context.Background()
	c, bucket := testClient(t, "")
	data := pattern(8<<20+999, 73)
	if _, err := c.PutObject(ctx, bucket, "go/ra.bin", data, nil); err != nil {
		t.Fatal(err)
	}
	f, err := c.OpenFile(ctx, bucket, "go/ra.bin", &FileOptions{MaxRequests: 4, MaxWindow: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	info, _ := c.Head(ctx, bucket, "go/ra.bin", RequestOptions{})
	if f.Size() != int64(len(data)) || f.ETag() != info.ETag || f.ETag() == "" {
		t.Fatalf("size %d, etag %q (HEAD %q)", f.Size(), f.ETag(), info.ETag)
	}
	// Four goroutines, each front to back through its quarter in 64 KiB reads.
	var wg sync.WaitGroup
	failed := make(chan string, 4)
	quarter := int64(len(data) / 4)
	for g := int64(0); g < 4; g++ {
		wg.Add(1)
		go func(g int64) {
			defer wg.Done()
			buf := make([]byte, 64<<10)
			for off := g * quarter; off < (g+1)*quarter; off += int64(len(buf)) {
				n, err := f.ReadAt(buf, off)
				// Fewer bytes only at the object's end, and then io.EOF with them.
				short := off+int64(len(buf)) > int64(len(data))
				if (err != nil && !(short && err == io.EOF)) || (n < len(buf)) != short ||
					!bytes.Equal(buf[:n], data[off:off+int64(n)]) {
					failed <- fmt.Sprintf("goroutine %d at %d: %d bytes, %v", g, off, n, err)
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(failed)
	for msg := range failed {
		t.Error(msg)
	}
	// io.ReaderAt at the end: fewer bytes and io.EOF.
	buf := make([]byte, 2000)
	n, err := f.ReadAt(buf, int64(len(data)-500))
	if n != 500 || err != io.EOF || !bytes.Equal(buf[:n], data[len(data)-500:]) {
		t.Fatalf("ReadAt across the end: %d, %v", n, err)
	}
	if n, err := f.ReadAt(buf, int64(len(data))); n != 0 || err != io.EOF {
		t.Fatalf("ReadAt at the end: %d, %v", n, err)
	}
	// The cursor.
	all, err := io.ReadAll(f)
	if err != nil || !bytes.Equal(all, data) {
		t.Fatalf("ReadAll: %d bytes, %v", len(all), err)
	}
	if pos, err := f.Seek(-100, io.SeekEnd); err != nil || pos != int64(len(data)-100) {
		t.Fatalf("Seek from the end: %d, %v", pos, err)
	}
	if pos, err := f.Seek(50, io.SeekCurrent); err != nil || pos != int64(len(data)-50) {
		t.Fatalf("Seek from here: %d, %v", pos, err)
	}
	rest, _ := io.ReadAll(f)
	if !bytes.Equal(rest, data[len(data)-50:]) {
		t.Fatal("the bytes after a seek differ")
	}
	if _, err := f.Seek(-1, io.SeekStart); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("a seek before 0: %v", err)
	}
	st := f.Stats()
	t.Logf("4 goroutines, then ReadAll: %+v", st)
	if !st.CRCVerified || st.BytesRead < 2*uint64(len(data)) || st.BytesFromCache == 0 || st.Requests < 2 {
		t.Fatalf("stats %+v", st)
	}
	// Four sequential readers each got prefetch: far fewer GETs than 64 KiB reads.
	if reads := uint64(len(data)) / (64 << 10); st.Requests*4 > reads {
		t.Fatalf("%d requests for %d reads of 64 KiB", st.Requests, reads)
	}
	f.Close()
	if _, err := f.ReadAt(buf, 0); !errors.Is(err, &Error{Code: CodeNullArgument}) {
		t.Fatalf("ReadAt after Close: %v", err)
	}
	if f.Stats() != (FileStats{}) || f.Close() != nil {
		t.Fatal("a closed File still has stats, or closing twice fails")
	}
}

func TestAFileFailsOnceItsObjectChangesOrItsContextEnds(t *testing.T) {
	c, bucket := testClient(t, "")
	data := pattern(4<<20, 74)
	if _, err := c.PutObject(context.Background(), bucket, "go/changing.bin", data, nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f, err := c.OpenFile(ctx, bucket, "go/changing.bin", &FileOptions{NoPrefetch: true})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	if _, err := f.ReadAt(buf, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutObject(context.Background(), bucket, "go/changing.bin", []byte("new"), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := f.ReadAt(buf, 2<<20); !errors.Is(err, ErrObjectChanged) {
		t.Fatalf("a read after the object changed: %v", err)
	}
	if _, err := c.PutObject(context.Background(), bucket, "go/changing.bin", data, nil); err != nil {
		t.Fatal(err)
	}
	g, err := c.OpenFile(ctx, bucket, "go/changing.bin", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if _, err := g.ReadAt(buf, 0); err != nil {
		t.Fatal(err)
	}
	cancel()
	_, err = g.ReadAt(buf, 3<<20)
	isContextCancel(t, "a read after the context ended", err, context.Canceled)
	if _, err := c.OpenFile(ctx, bucket, "go/changing.bin", nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("OpenFile with a done context: %v", err)
	}
	if _, err := c.OpenFile(context.Background(), bucket, "go/no-such-file", nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("OpenFile of a missing object: %v", err)
	}
}
