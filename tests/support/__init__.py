"""Test support: real middleboxes (nginx, HAProxy, squid) and real SDKs as peers on 127.0.0.1."""
