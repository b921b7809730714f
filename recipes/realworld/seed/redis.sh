#!/bin/sh
# Stock counts in Redis (the fast path the shop reads): stock:<sku> = on hand.
#   sh seed/redis.sh PORT      (from the recipe directory)
set -eu
port=$1
{
    echo "DEL stock:index"
    tail -n +2 seed/catalog.csv | while IFS=, read -r sku _name _price on_hand; do
        echo "SET stock:$sku $on_hand"
        echo "SADD stock:index $sku"
    done
} | redis-cli -h 127.0.0.1 -p "$port"
echo "redis: $(redis-cli -h 127.0.0.1 -p "$port" SCARD stock:index) SKUs stocked"
