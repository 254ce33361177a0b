package ossr

import (
	"context"
	"errors"
	"reflect"
	"sort"
	"testing"
)

func TestListPagesKeysInByteOrderWithCommonPrefixes(t *testing.T) {
	ctx := context.Background()
	c, bucket := testClient(t, "")
	keys := []string{"golist/b", "golist/a b", "golist/d/1", "golist/d/2", "golist/中", "golist/e/x/1"}
	for i, k := range keys {
		if _, err := c.PutObject(ctx, bucket, k, pattern(i, byte(i)), nil); err != nil {
			t.Fatalf("put %s: %v", k, err)
		}
	}
	var got []string
	pages := 0
	err := c.List(ctx, bucket, &ListOptions{Prefix: "golist/", PageSize: 2}, func(p ListPage) bool {
		pages++
		for _, o := range p.Objects {
			got = append(got, o.Key)
			if o.Type != "Normal" || o.StorageClass != "Standard" || o.LastModified.IsZero() || o.ETag == "" {
				t.Errorf("listed %+v", o)
			}
		}
		return true
	})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	want := append([]string(nil), keys...)
	sort.Strings(want) // Go compares strings bytewise: UTF-8 byte order
	if !reflect.DeepEqual(got, want) || pages != 3 {
		t.Fatalf("listed %q in %d pages, want %q in 3", got, pages, want)
	}

	var objects, prefixes []string
	err = c.List(ctx, bucket, &ListOptions{Prefix: "golist/", Delimiter: "/", PageSize: 1}, func(p ListPage) bool {
		for _, o := range p.Objects {
			objects = append(objects, o.Key)
		}
		prefixes = append(prefixes, p.CommonPrefixes...)
		return true
	})
	if err != nil {
		t.Fatalf("List with a delimiter: %v", err)
	}
	if !reflect.DeepEqual(objects, []string{"golist/a b", "golist/b", "golist/中"}) ||
		!reflect.DeepEqual(prefixes, []string{"golist/d/", "golist/e/"}) {
		t.Fatalf("objects %q, prefixes %q", objects, prefixes)
	}

	// fn returning false stops after that page.
	pages = 0
	err = c.List(ctx, bucket, &ListOptions{Prefix: "golist/", PageSize: 1}, func(ListPage) bool {
		pages++
		return false
	})
	if err != nil || pages != 1 {
		t.Fatalf("stopped listing: %v after %d pages", err, pages)
	}
}

func TestListErrorsAndAnEndedContext(t *testing.T) {
	c, bucket := testClient(t, "")
	err := c.List(context.Background(), "no-such-bucket", nil, func(ListPage) bool { return true })
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("a missing bucket gave %v", err)
	}
	err = c.List(context.Background(), bucket, &ListOptions{PageSize: 1001}, func(ListPage) bool { return true })
	if !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("page size 1001 gave %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	called := false
	err = c.List(ctx, bucket, nil, func(ListPage) bool { called = true; return true })
	if !errors.Is(err, ErrCancelled) || !errors.Is(err, context.Canceled) || called {
		t.Fatalf("an ended context gave %v (fn called: %v)", err, called)
	}
}
