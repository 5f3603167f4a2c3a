package velatest

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// minFileSize is the lower bound of content-length-range in every policy:
// an empty recording is never worth uploading.
const minFileSize = 1

// PresignPost makes a real SigV4 presigned POST with aws-sdk-go-v2's
// PresignPostObject for key in target's bucket, expiring after ttl (0 means
// the SDK's default of 15 minutes; a negative ttl gives a policy that has
// already expired), with the condition content-length-range [1, maxSize].
// It returns the URL to POST to and the form fields, the SDK's Values
// unchanged. It needs no network. Exported so tests of the uploader can
// presign directly for an external server such as versitygw.
func PresignPost(ctx context.Context, target ExternalS3, key string, ttl time.Duration, maxSize int64) (url string, fields map[string]string, err error) {
	if target.Endpoint == "" || target.Bucket == "" {
		return "", nil, errors.New("velatest: presign POST: the S3 endpoint and bucket must be set")
	}
	if target.Region == "" {
		target.Region = "us-east-1"
	}
	return presignPost(ctx, newPresigner(target, ""), target.Bucket, key, ttl, maxSize)
}

// newPresigner returns a path-style presign client for target, signing with
// its key pair and sessionToken (if any).
func newPresigner(target ExternalS3, sessionToken string) *s3.PresignClient {
	return s3.NewPresignClient(s3.New(s3.Options{
		Region:       target.Region,
		BaseEndpoint: aws.String(target.Endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(target.AccessKey, target.SecretKey, sessionToken),
	}))
}

func presignPost(ctx context.Context, pc *s3.PresignClient, bucket, key string, ttl time.Duration, maxSize int64) (string, map[string]string, error) {
	req, err := pc.PresignPostObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(bucket),
		Key:    aws.String(key),
	}, func(o *s3.PresignPostOptions) {
		o.Expires = ttl
		o.Conditions = []any{[]any{"content-length-range", minFileSize, maxSize}}
	})
	if err != nil {
		return "", nil, fmt.Errorf("velatest: presign POST of %s/%s: %w", bucket, key, err)
	}
	return req.URL, req.Values, nil
}
