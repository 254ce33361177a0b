package ossr

import (
	"bytes"
	"context"
	"errors"
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
	var last uint64
	opts := &DirOptions{Threads: 2, Exclude: []string{"*.tmp"}, Progress: func(done, total uint64) bool { last = done; return true }}
	up, err := c.UploadDir(ctx, src, bucket, "godir/", opts)
	if err != nil {
		t.Fatalf("UploadDir: %v", err)
	}
	if up.FilesTransferred != 3 || up.BytesTransferred != 2010 || last != 2010 || len(up.Failed) != 0 {
		t.Fatalf("up: %+v (progress %d)", up, last)
	}
	again, err := c.UploadDir(ctx, src, bucket, "godir/", opts)
	if err != nil || again.FilesTransferred != 0 || again.FilesUnchanged != 3 {
		t.Fatalf("again: %+v %v", again, err)
	}
	// A hostile key under the prefix is refused by name on the way down.
	if _, err := c.PutObject(ctx, bucket, "godir/../escape", []byte("x"), nil); err != nil {
		t.Fatal(err)
	}
	down, err := c.DownloadPrefix(ctx, bucket, "godir/", dst, &DirOptions{})
	if err != nil {
		t.Fatalf("DownloadPrefix: %v", err)
	}
	if down.FilesTransferred != 3 || len(down.Failed) != 1 || down.Failed[0].Name != "godir/../escape" {
		t.Fatalf("down: %+v", down)
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
