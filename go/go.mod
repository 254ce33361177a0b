// The Go binding of oss_resume. It links the C library built in the same
// checkout, so it is normally used through a replace directive pointing at that
// checkout (see the package documentation).
module github.com/oss-resume/oss_resume/go

go 1.19
