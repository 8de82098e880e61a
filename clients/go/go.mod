module github.com/capplan/capplan/clients/go

go 1.19
