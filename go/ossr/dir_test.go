package ossr

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

func TestUploadDirAndDownloadPrefixRoundTrip(t *testing.T) {
	ctx := context.Background()
	c, bucket := testClient(t, "")
	src, dst := t.TempDir(), t.TempDir()
	files := map[string][]byte{"a": pattern(10, 1), "b/c": pattern(2000, 2), "b/d e": pattern(0, 3), "x.tmp": pattern(5, 4)}
	for name, data := range files {
		path := filepath.Join(src, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var calls []DirProgress
	opts := &DirOptions{Threads: 2, Exclude: []string{"*.tmp"}, Progress: func(p DirProgress) bool { calls = append(calls, p); return true }}
	up, err := c.UploadDir(ctx, src, bucket, "godir/", opts)
	if err != nil {
		t.Fatalf("UploadDir: %v", err)
	}
	if up.FilesTransferred != 3 || up.BytesTransferred != 2010 || len(up.Failed) != 0 {
		t.Fatalf("up: %+v", up)
	}
	checkDirProgress(t, calls, DirProgress{FilesDone: 3, FilesTotal: 3, BytesDone: 2010, BytesTotal: 2010})
	again, err := c.UploadDir(ctx, src, bucket, "godir/", opts)
	if err != nil || again.FilesTransferred != 0 || again.FilesUnchanged != 3 {
		t.Fatalf("again: %+v %v", again, err)
	}
	// A hostile key under the prefix is refused by name on the way down.
	if _, err := c.PutObject(ctx, bucket, "godir/../escape", []byte("x"), nil); err != nil {
		t.Fatal(err)
	}
	calls = nil
	down, err := c.DownloadPrefix(ctx, bucket, "godir/", dst, &DirOptions{NoFsync: true, Progress: opts.Progress})
	if err != nil {
		t.Fatalf("DownloadPrefix: %v", err)
	}
	if down.FilesTransferred != 3 || len(down.Failed) != 1 || down.Failed[0].Name != "godir/../escape" {
		t.Fatalf("down: %+v", down)
	}
	// The refused key counts as done from the first call.
	checkDirProgress(t, calls, DirProgress{FilesDone: 4, FilesTotal: 4, BytesDone: 2010, BytesTotal: 2010})
	if calls[0].FilesDone != 1 || calls[0].BytesDone != 0 {
		t.Fatalf("first call %+v", calls[0])
	}
	for name, data := range files {
		got, err := os.ReadFile(filepath.Join(dst, name))
		if name == "x.tmp" {
			if err == nil {
				t.Errorf("%s was excluded but arrived", name)
			}
			continue
		}
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(dst), "escape")); err == nil {
		t.Fatal("a file was written outside the target")
	}
}

func TestDirTransfersRefuseBadShardsAndEndedContexts(t *testing.T) {
	c, bucket := testClient(t, "")
	_, err := c.DownloadPrefix(context.Background(), bucket, "x/", t.TempDir(), &DirOptions{ShardIndex: 4, ShardCount: 4})
	if !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("shard 4/4 gave %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = c.UploadDir(ctx, t.TempDir(), bucket, "x/", nil)
	if !errors.Is(err, ErrCancelled) || !errors.Is(err, context.Canceled) {
		t.Fatalf("an ended context gave %v", err)
	}
}

// checkDirProgress checks that the calls never step back, keep their totals and
// end at want.
func checkDirProgress(t *testing.T, calls []DirProgress, want DirProgress) {
	t.Helper()
	if len(calls) == 0 {
		t.Fatal("no progress call")
	}
	for i := 1; i < len(calls); i++ {
		a, b := calls[i-1], calls[i]
		if b.FilesDone < a.FilesDone || b.BytesDone < a.BytesDone || b.FilesTotal != a.FilesTotal || b.BytesTotal != a.BytesTotal {
			t.Fatalf("call %d: %+v after %+v", i, b, a)
		}
	}
	if last := calls[len(calls)-1]; last != want {
		t.Fatalf("last call %+v, want %+v", last, want)
	}
}

func TestDirProgressFalseCancelsAndAPanicIsReRaised(t *testing.T) {
	ctx := context.Background()
	c, bucket := testClient(t, "")
	src := t.TempDir()
	for i := 0; i < 30; i++ {
		if err := os.WriteFile(filepath.Join(src, fmt.Sprintf("f%02d", i)), pattern(100, byte(i)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	calls := 0
	_, err := c.UploadDir(ctx, src, bucket, "gostop/", &DirOptions{Threads: 1, Progress: func(p DirProgress) bool {
		calls++
		return p.FilesDone < 2
	}})
	if !errors.Is(err, ErrCancelled) {
		t.Fatalf("a false from Progress gave %v", err)
	}
	listed := 0
	err = c.List(ctx, bucket, &ListOptions{Prefix: "gostop/"}, func(p ListPage) bool { listed += len(p.Objects); return true })
	if err != nil {
		t.Fatal(err)
	}
	// The plan's call, then one per file until the false at the second.
	if calls != 3 || listed >= 30 {
		t.Fatalf("%d calls, %d of 30 files sent after the cancel", calls, listed)
	}
	defer func() {
		if r := recover(); r != "dir boom" {
			t.Fatalf("want the callback's panic re-raised, got %v", r)
		}
	}()
	_, _ = c.UploadDir(ctx, src, bucket, "gostop/", &DirOptions{Progress: func(DirProgress) bool { panic("dir boom") }})
	t.Fatal("UploadDir returned instead of re-raising the panic")
}
