module oss_resume/go

go 1.19
