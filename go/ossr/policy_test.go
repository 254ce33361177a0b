package ossr

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"
)

// serverSent is the local server's response body bytes per window of windowMs since
// its counters were last zeroed (its traffic timeline).
func serverSent(t *testing.T, windowMs int) []uint64 {
	t.Helper()
	resp, err := http.Get(os.Getenv("OSSR_TEST_ENDPOINT") + "/_ossr/traffic?window_ms=" + itoa(windowMs))
	if err != nil {
		t.Fatalf("reading the server's traffic: %v", err)
	}
	defer resp.Body.Close()
	var traffic struct {
		Sent []uint64 `json:"sent"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&traffic); err != nil {
		t.Fatalf("decoding the server's traffic: %v", err)
	}
	return traffic.Sent
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// zeroStats zeroes the local server's counters and restarts its traffic timeline.
func zeroStats(t *testing.T) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodDelete, os.Getenv("OSSR_TEST_ENDPOINT")+"/_ossr/stats", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("zeroing the server's stats: %v", err)
	}
	resp.Body.Close()
}

// lastBusyWindow is the index of the last window that carried bytes.
func lastBusyWindow(sent []uint64) int {
	last := -1
	for i, n := range sent {
		if n > 0 {
			last = i
		}
	}
	return last
}

// downloadPaced downloads a 6 MiB object with c and returns the server's timeline
// in 250 ms windows.
func downloadPaced(t *testing.T, c *Client, bucket, key string, data []byte) []uint64 {
	t.Helper()
	target := filepath.Join(t.TempDir(), "paced")
	zeroStats(t)
	_, err := c.Download(context.Background(), bucket, key, target, &DownloadOptions{
		Threads: 2, PartSize: 512 << 10, MultigetThreshold: 512 << 10, NoFsync: true,
	})
	if err != nil {
		t.Fatalf("Download: %v", err)
	}
	got, _ := os.ReadFile(target)
	if !bytes.Equal(got, data) {
		t.Fatal("downloaded bytes differ")
	}
	return serverSent(t, 250)
}

func TestRateLimitFromConfigAndSetRateLimitPaceDownloads(t *testing.T) {
	plain, bucket := testClient(t, "")
	// What the client has not read waits in the server, where its timeline sees it.
	fault(t, "socket_buffer", "65536")
	data := pattern(6<<20, 17)
	if _, err := plain.Put(context.Background(), bucket, "paced", bytes.NewReader(data), &PutOptions{Length: int64(len(data))}); err != nil {
		t.Fatalf("Put: %v", err)
	}
	// 6 MiB at 2 MiB/s: 3 s, less what the sockets hold (well under 1.5 s);
	// without the cap the server sends it all in the first 250 ms.
	const cap = 2 << 20
	capped, err := NewClient(Config{
		Endpoint:          os.Getenv("OSSR_TEST_ENDPOINT"),
		Region:            os.Getenv("OSSR_TEST_REGION"),
		AccessKeyID:       os.Getenv("OSSR_TEST_ACCESS_KEY_ID"),
		AccessKeySecret:   os.Getenv("OSSR_TEST_ACCESS_KEY_SECRET"),
		RateLimitDownload: cap,
	})
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	defer capped.Close()
	if sent := downloadPaced(t, capped, bucket, "paced", data); lastBusyWindow(sent) < 6 {
		t.Fatalf("a 6 MiB download at 2 MiB/s ended within 1.5 s: %v", sent)
	}
	// A live client capped by SetRateLimit.
	if err := plain.SetRateLimit(cap, 0); err != nil {
		t.Fatalf("SetRateLimit: %v", err)
	}
	if sent := downloadPaced(t, plain, bucket, "paced", data); lastBusyWindow(sent) < 6 {
		t.Fatalf("SetRateLimit did not pace the download: %v", sent)
	}
}

// downloadLate downloads a 12 MiB object in 1 MiB parts at 4 threads; the server's
// delay fault spares the first 8 GETs (so the download has its own measure of
// answers) and holds back every later one 1.5 s.
func downloadLate(t *testing.T, c *Client, bucket string, noHedge bool) DownloadReport {
	t.Helper()
	data := pattern(12<<20, 29)
	if _, err := c.Put(context.Background(), bucket, "late", bytes.NewReader(data), &PutOptions{Length: int64(len(data))}); err != nil {
		t.Fatalf("Put: %v", err)
	}
	t.Cleanup(clearFaults)
	fault(t, "delay_ops", "GetObject")
	fault(t, "delay_ms", "1500")
	fault(t, "delay_after", "8")
	fault(t, "delay_rate", "1")
	target := filepath.Join(t.TempDir(), "late")
	report, err := c.Download(context.Background(), bucket, "late", target, &DownloadOptions{
		Threads: 4, PartSize: 1 << 20, MultigetThreshold: 1 << 20, NoFsync: true, NoHedge: noHedge,
	})
	if err != nil {
		t.Fatalf("Download: %v", err)
	}
	got, _ := os.ReadFile(target)
	if !bytes.Equal(got, data) || !report.Verified {
		t.Fatal("downloaded bytes differ")
	}
	return report
}

func TestLatePartsAreHedgedUnlessNoHedge(t *testing.T) {
	c, bucket := testClient(t, "")
	if r := downloadLate(t, c, bucket, false); r.PartsHedged == 0 || r.BytesFetched != r.Size {
		t.Fatalf("no part was hedged, or bytes counted twice: %+v", r)
	}
	if r := downloadLate(t, c, bucket, true); r.PartsHedged != 0 {
		t.Fatalf("NoHedge hedged %d parts", r.PartsHedged)
	}
}
