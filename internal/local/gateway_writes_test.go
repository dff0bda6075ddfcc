package local

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// TestGatewayConditionalWritesAreAtomic: DynamoDB applies a conditional
// write atomically, so of several writers racing to set an absent
// attribute exactly one succeeds. Moto alone does not guarantee it (it
// checks, then writes: here a few races in a hundred had two winners);
// through the gateway every race has one, as the pipeline's claims rely on.
func TestGatewayConditionalWritesAreAtomic(t *testing.T) {
	t.Parallel()
	b := startBaseT(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	db := dynamodb.NewFromConfig(Config(b.endpoint))
	if _, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String("races"),
		BillingMode:          types.BillingModePayPerRequest,
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("k"), KeyType: types.KeyTypeHash}},
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("k"), AttributeType: types.ScalarAttributeTypeS}},
	}); err != nil {
		t.Fatal(err)
	}

	const keys, writers = 150, 4
	doubles := 0
	for k := range keys {
		key := map[string]types.AttributeValue{"k": &types.AttributeValueMemberS{Value: fmt.Sprint(k)}}
		var won atomic.Int32
		var wg sync.WaitGroup
		start := make(chan struct{})
		for w := range writers {
			wg.Go(func() {
				<-start
				_, err := db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
					TableName:                 aws.String("races"),
					Key:                       key,
					UpdateExpression:          aws.String("SET claimed_by = :w"),
					ConditionExpression:       aws.String("attribute_not_exists(claimed_by)"),
					ExpressionAttributeValues: map[string]types.AttributeValue{":w": &types.AttributeValueMemberN{Value: fmt.Sprint(w)}},
				})
				var ccf *types.ConditionalCheckFailedException
				switch {
				case err == nil:
					won.Add(1)
				case !errors.As(err, &ccf):
					t.Errorf("update %v: %v", key, err)
				}
			})
		}
		close(start)
		wg.Wait()
		if won.Load() != 1 {
			doubles++
		}
	}
	if doubles != 0 {
		t.Errorf("%d of %d races had other than one winner", doubles, keys)
	}
}
